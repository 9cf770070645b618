#include "data/utf8.hpp"

namespace myelin::data::detail {

size_t utf8_decode(std::string_view s, size_t pos, char32_t& cp) {
  const size_t left = s.size() - pos;
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[pos + k]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  // The lead byte fixes the length and the smallest value that length may encode (anything
  // below it is an overlong form, which would let one character hide behind several spellings).
  size_t len;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;  // a continuation byte, or 0xF8-0xFF
  }
  if (left < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

size_t utf8_invalid_offset(std::string_view s) {
  size_t i = 0;
  char32_t cp;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {  // ASCII, the common case
      ++i;
      continue;
    }
    const size_t n = utf8_decode(s, i, cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

char32_t lowercase(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;  // À-Þ, but × (U+00D7)
  if (cp >= 0x100 && cp <= 0x17F) {
    // Latin Extended-A alternates capital/small; the parity of the capitals flips twice where
    // a small letter without a capital (ĸ U+0138, ŉ U+0149) breaks the run.
    if (cp == 0x130) return 'i';    // İ: the simple mapping (the full one adds U+0307)
    if (cp == 0x178) return 0xFF;   // Ÿ -> ÿ, whose capital lies here
    if (cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F) return cp;  // ı ĸ ŉ ſ: small
    const bool even_capitals = cp < 0x139 || (cp >= 0x14A && cp < 0x179);
    return (cp % 2 == 0) == even_capitals ? cp + 1 : cp;
  }
  if (cp >= 0x386 && cp <= 0x3AB) {
    if (cp >= 0x391) return cp == 0x3A2 ? cp : cp + 32;  // Α-Ϋ (U+03A2 is unassigned)
    switch (cp) {
      case 0x386: return 0x3AC;  // Ά
      case 0x388: case 0x389: case 0x38A: return cp + 37;  // Έ Ή Ί
      case 0x38C: return 0x3CC;  // Ό
      case 0x38E: case 0x38F: return cp + 63;  // Ύ Ώ
      default: return cp;
    }
  }
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;  // Ѐ-Џ -> ѐ-џ
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;  // А-Я
  return cp;
}

std::string utf8_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out += (b >= 'A' && b <= 'Z') ? char(b + 32) : char(b);
      ++i;
      continue;
    }
    char32_t cp = 0;
    const size_t n = utf8_decode(s, i, cp);
    if (n == 0) {  // callers validate first; keep a stray byte as it is rather than lose it
      out += char(b);
      ++i;
      continue;
    }
    utf8_append(out, lowercase(cp));
    i += n;
  }
  return out;
}

}  // namespace myelin::data::detail
