// Declarations of the generated Unicode tables (unicode_tables.cpp, produced by
// gen_unicode_tables.py from Python's own str.lower()/str.isspace()/unicodedata).
// Only unicode_py.cpp and tokenize_rouge.cpp read them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mds::unicode_tables {

// Code points first, first+step, ..., last lower-case to cp + delta.
struct LowerRun {
  char32_t first, last;
  uint8_t step;
  int32_t delta;
};
// Code points whose lower-case form has several code points (U+0130 only in Unicode 14).
struct LowerSpecial {
  char32_t cp;
  char32_t out[3];
  uint8_t len;
};
struct CodeRange {
  char32_t first, last;
};
// Word classes of the Unicode ROUGE tokenizer: 1 word, 2 combining mark, 3 isolated.
struct ClassRange {
  char32_t first, last;
  uint8_t cls;
};

extern const char* const kUnicodeVersion;
extern const LowerRun kLowerRuns[];
extern const size_t kLowerRunCount;
extern const LowerSpecial kLowerSpecial[];
extern const size_t kLowerSpecialCount;
extern const CodeRange kCaseIgnorable[];
extern const size_t kCaseIgnorableCount;
extern const CodeRange kCased[];
extern const size_t kCasedCount;
extern const char32_t kSpaces[];
extern const size_t kSpaceCount;
extern const ClassRange kWordClasses[];
extern const size_t kWordClassCount;

}  // namespace mds::unicode_tables
