// Errors thrown by myelin. Every message names what is wrong and where (layer, shape, file, line).
#pragma once
#include <stdexcept>
#include <string>

namespace myelin {

/// Base of every exception myelin throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A tensor or layer received a shape it cannot work with.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// An argument or data value is out of range or malformed (bad label, NaN input, unknown name).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// An index lies outside what it indexes: a token id outside an Embedding's table. A ValueError in
/// C++; Python sees IndexError, as PyTorch raises for an embedding lookup out of range.
class IndexError : public ValueError {
 public:
  using ValueError::ValueError;
};

/// A file could not be opened, read, parsed or written.
class IOError : public Error {
 public:
  using Error::Error;
};

/// What was asked for needs more memory than this process may use (myelin/memory_limit.hpp): a
/// model's weights, its optimizer's state or a batch's activations. Raised before allocating; the
/// message names the layer, its shapes and the bytes. Python sees it as MemoryError.
class ResourceError : public Error {
 public:
  using Error::Error;
};

}  // namespace myelin
