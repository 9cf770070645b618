#include <zlib.h>

#include <memory>
#include <vector>

#include "myelin/data/idx.hpp"
#include "myelin/error.hpp"
#include "myelin/io/atomic_file.hpp"

namespace myelin::data {

void gunzip_file(const std::string& from, const std::string& to) {
  std::unique_ptr<gzFile_s, decltype(&gzclose)> in(gzopen(from.c_str(), "rb"), &gzclose);
  if (!in) throw IOError("cannot open '" + from + "'");
  if (gzdirect(in.get())) throw IOError("'" + from + "' is not gzip-compressed");
  std::vector<char> buffer(1 << 20);
  io::write_file_atomically(to, [&](std::ostream& out) {
    for (;;) {
      const int n = gzread(in.get(), buffer.data(), unsigned(buffer.size()));
      if (n < 0) {
        int code = 0;
        throw IOError("'" + from + "' is damaged: " + gzerror(in.get(), &code));
      }
      if (n == 0) break;
      out.write(buffer.data(), n);
    }
    // gzread reports a file cut short only here: at the end without the gzip trailer.
    int code = 0;
    const char* message = gzerror(in.get(), &code);
    if (code != Z_OK && code != Z_STREAM_END) throw IOError("'" + from + "' is damaged: " + message);
  });
}

}  // namespace myelin::data
