// Pre-tokenization: splits raw bytes into the "words" that byte-level BPE
// learns and encodes independently (rule in docs/tokenizer.md). Works on any
// byte sequence: invalid UTF-8 bytes and NULs are ordinary one-byte symbols.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mds {

// Identifies the rule below in tokenizer files; bump on any change.
inline constexpr const char* kPretokenizerName = "mds-bytes-v1";
// Longer runs are cut into pieces of at most this many bytes (at a UTF-8
// character boundary) so a pathological input cannot make BPE quadratic.
inline constexpr size_t kMaxPretokenBytes = 256;

enum class CharClass : uint8_t { space, letter, digit, other };

// Class and byte length of the character starting at s[i] (i < n). A byte
// that does not start a well-formed UTF-8 sequence is a one-byte `other`.
CharClass char_class_at(const uint8_t* s, size_t n, size_t i, size_t* len);

// End (exclusive) of the pre-token that starts at byte i (i < n); always > i.
size_t pretoken_end(const uint8_t* s, size_t n, size_t i);

// Calls fn(std::string_view piece) for each pre-token of text, in order; the
// pieces concatenate back to text exactly.
template <typename Fn>
void for_each_pretoken(std::string_view text, Fn&& fn) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    size_t e = pretoken_end(s, n, i);
    fn(text.substr(i, e - i));
    i = e;
  }
}

}  // namespace mds
