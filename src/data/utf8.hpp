// Internal: the UTF-8 handling text preprocessing needs: strict decoding, encoding, and the
// lowercase mapping TextVectorization documents. Not part of the public API.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace myelin::data::detail {

/// Decodes the code point starting at byte `pos` of `s` into `cp`; returns its length in bytes
/// (1 to 4), or 0 if the bytes there are not valid UTF-8: a stray continuation byte, a truncated
/// sequence, an overlong form, a surrogate (U+D800-U+DFFF) or a value past U+10FFFF.
size_t utf8_decode(std::string_view s, size_t pos, char32_t& cp);

/// Byte offset of the first invalid sequence of `s`, or std::string_view::npos if it is all valid.
size_t utf8_invalid_offset(std::string_view s);

/// Appends the UTF-8 encoding of the valid code point `cp`.
void utf8_append(std::string& out, char32_t cp);

/// The lowercase of `cp` by Unicode's simple mapping, for A-Z, Latin-1 (U+00C0-U+00DE but
/// U+00D7), Latin Extended-A (U+0100-U+017F), Greek (U+0386-U+03AB) and Cyrillic (U+0400-U+042F);
/// any other code point is returned as it is.
char32_t lowercase(char32_t cp);

/// `s` (valid UTF-8) with every code point passed through lowercase().
std::string utf8_lower(std::string_view s);

}  // namespace myelin::data::detail
