// ROUGE tokenizers (see tokenize_rouge.h).
#include "metrics/tokenize_rouge.h"

#include "metrics/porter.h"
#include "metrics/sentence_split.h"
#include "metrics/unicode_py.h"

namespace mds {

namespace {

bool ascii_alnum_only(std::string_view s) {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

// ASCII bytes under Python lower() and the [a-z0-9] filter: the token
// character, or 0 for a separator.
struct AsciiMap {
  char map[128];
  constexpr AsciiMap() : map() {
    for (int c = 0; c < 128; ++c)
      map[c] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? static_cast<char>(c)
               : (c >= 'A' && c <= 'Z')                         ? static_cast<char>(c + 32)
                                                                : 0;
  }
};
constexpr AsciiMap kAscii;

// Calls emit(token) for each token of text under rouge-score's default rules.
// After Python's lower() only [a-z0-9] survive; the only non-ASCII characters
// whose lower-case form contains such letters are U+0130 (-> "i" + U+0307) and
// the Kelvin sign U+212A (-> "k"), checked against the generated tables.
template <typename Emit>
void default_tokens(std::string_view text, std::string& buf, Emit&& emit) {
  if (buf.size() < text.size() + 1) buf.resize(text.size() + 1);
  char* out = &buf[0];
  size_t len = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    auto c = static_cast<unsigned char>(*p);
    if (c < 0x80) {
      ++p;
      char m = kAscii.map[c];
      if (m) {
        out[len++] = m;
      } else if (len) {
        emit(std::string_view(out, len));
        len = 0;
      }
      continue;
    }
    char32_t cp = utf8_next(p, end);
    if (cp == 0x212A) {
      out[len++] = 'k';
    } else {
      if (cp == 0x130) out[len++] = 'i';  // then U+0307 separates
      if (len) {
        emit(std::string_view(out, len));
        len = 0;
      }
    }
  }
  if (len) emit(std::string_view(out, len));
}

// Our Unicode tokenizer: Python lower(), then runs of letters/numbers (with
// their combining marks) are tokens; characters of scripts written without
// spaces (Han, kana, Thai, ...) are tokens by themselves.
template <typename Emit>
void unicode_tokens(std::string_view text, std::string& cur, Emit&& emit) {
  std::string low = py_lower(text);
  cur.clear();
  bool isolate = false;
  const char* p = low.data();
  const char* end = p + low.size();
  auto flush = [&] {
    if (!cur.empty()) emit(std::string_view(cur));
    cur.clear();
    isolate = false;
  };
  while (p < end) {
    char32_t cp = utf8_next(p, end);
    switch (unicode_word_class(cp)) {
      case 1:
        if (isolate) flush();
        utf8_append(cur, cp);
        break;
      case 2:
        utf8_append(cur, cp);
        break;
      case 3:
        flush();
        utf8_append(cur, cp);
        isolate = true;
        break;
      default:
        flush();
    }
  }
  flush();
}

template <typename Emit>
void tokens_of(std::string_view text, RougeTokenizerKind kind, std::string& cur, Emit&& emit) {
  if (kind == RougeTokenizerKind::rouge_score)
    default_tokens(text, cur, emit);
  else
    unicode_tokens(text, cur, emit);
}

}  // namespace

void tokenize_rouge(std::string_view text, const RougeTokenizeOptions& opt, TokenVocab& vocab, TokenizedText& out,
                    std::string& scratch) {
  out.ids.clear();
  out.sentence_bounds.clear();
  std::string& cur = scratch;
  bool stem = opt.stem;
  bool unicode = opt.kind == RougeTokenizerKind::unicode;
  auto emit = [&](std::string_view tok) {
    // rouge-score stems tokens longer than 3 characters (Python len: code points;
    // the default tokens are ASCII). Our Unicode tokenizer stems ASCII-only tokens.
    if (stem && tok.size() > 3 && (!unicode || ascii_alnum_only(tok)))
      out.ids.push_back(vocab.stemmed_id(tok));
    else
      out.ids.push_back(vocab.id(tok));
  };
  std::vector<std::string_view> pieces =
      opt.lsum_split == LsumSplit::newline ? split_newlines(text) : split_sentences(text);
  for (std::string_view piece : pieces) {
    size_t before = out.ids.size();
    tokens_of(piece, opt.kind, cur, emit);
    if (out.ids.size() > before) out.sentence_bounds.push_back(static_cast<uint32_t>(before));
  }
  if (!out.sentence_bounds.empty()) out.sentence_bounds.push_back(static_cast<uint32_t>(out.ids.size()));
}

std::vector<std::string> rouge_tokens(std::string_view text, RougeTokenizerKind kind, bool stem) {
  std::vector<std::string> out;
  std::string cur;
  tokens_of(text, kind, cur, [&](std::string_view tok) {
    bool ascii = ascii_alnum_only(tok);
    out.push_back(stem && tok.size() > 3 && ascii ? porter_stem(tok) : std::string(tok));
  });
  return out;
}

}  // namespace mds
