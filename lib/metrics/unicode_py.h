// Python str semantics on UTF-8 text, as the reference metrics see it:
// str.lower() (full Unicode lower-casing with the Final_Sigma rule),
// str.isspace(), str.split() with no argument, str.strip()/rstrip().
// Input is assumed to be valid UTF-8 (readers validate it); a stray invalid
// byte is treated as one non-space, non-letter code point (U+FFFD).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mds {

// Decodes one code point at p (advancing p). Returns U+FFFD for an invalid byte.
char32_t utf8_next(const char*& p, const char* end);
void utf8_append(std::string& out, char32_t cp);
std::u32string utf8_to_u32(std::string_view s);

// Python's str.isspace() for one code point (the set str.split() splits on).
bool py_isspace(char32_t cp);
// Python's str.lower() of a whole string.
std::string py_lower(std::string_view s);
// Python's s.split(): runs of whitespace separate; no empty pieces.
std::vector<std::string_view> py_split(std::string_view s);
// Number of pieces py_split would return, without building them.
size_t py_split_count(std::string_view s);
// Python's s.rstrip() / s.strip() with no argument.
std::string_view py_rstrip(std::string_view s);
std::string_view py_strip(std::string_view s);

// Class of a code point for the Unicode ROUGE tokenizer: 0 separator,
// 1 word character, 2 combining mark, 3 character that is a token by itself.
int unicode_word_class(char32_t cp);
// Unicode version of the tables (Python's unicodedata.unidata_version).
const char* unicode_tables_version();

}  // namespace mds
