// nltk 3.8 PorterStemmer (NLTK_EXTENSIONS mode), step by step. Each step mirrors
// one method of nltk/stem/porter.py; rules are tried in the listed order and the
// first rule whose suffix matches decides (its condition failing stops the step),
// which is what nltk's _apply_rule_list does. The word is edited in place in a
// std::string (no temporaries: stems of long texts are computed by the million).
#include "metrics/porter.h"

#include <cstdint>
#include <cstring>

namespace mds {

namespace {

bool is_vowel_letter(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// nltk _is_consonant: 'y' is a consonant at the start or after a vowel.
bool is_consonant(const char* w, size_t i) {
  char c = w[i];
  if (is_vowel_letter(c)) return false;
  if (c == 'y') return i == 0 ? true : !is_consonant(w, i - 1);
  return true;
}

// Porter's m of w[0, len): number of "vc" transitions in the consonant/vowel pattern.
int measure(const char* w, size_t len) {
  int m = 0;
  bool prev_vowel = false;
  for (size_t i = 0; i < len; ++i) {
    bool cons = is_consonant(w, i);
    if (cons && prev_vowel) ++m;
    prev_vowel = !cons;
  }
  return m;
}

bool contains_vowel(const char* w, size_t len) {
  for (size_t i = 0; i < len; ++i)
    if (!is_consonant(w, i)) return true;
  return false;
}

bool ends_double_consonant(const char* w, size_t n) {
  return n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1);
}

// Condition *o, with nltk's extension accepting a 2-letter vowel+consonant word.
bool ends_cvc(const char* w, size_t n) {
  if (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) && w[n - 1] != 'w' &&
      w[n - 1] != 'x' && w[n - 1] != 'y')
    return true;
  return n == 2 && !is_consonant(w, 0) && is_consonant(w, 1);
}

struct Word {
  std::string s;
  bool ends(const char* suffix, size_t k) const {
    return s.size() >= k && std::memcmp(s.data() + s.size() - k, suffix, k) == 0;
  }
  // Replaces the last k characters by rep.
  void replace(size_t k, const char* rep) {
    s.resize(s.size() - k);
    s.append(rep);
  }
};

enum class Cond { none, m_gt0, m_gt1, m_gt1_st, logi };

struct Rule {
  const char* suffix;
  uint8_t suffix_len;
  const char* replacement;
  Cond cond;
};

// Condition on the stem w[0, stem_len); word_len is the length before the rule.
bool holds(Cond c, const char* w, size_t stem_len, size_t word_len) {
  switch (c) {
    case Cond::none: return true;
    case Cond::m_gt0: return measure(w, stem_len) > 0;
    case Cond::m_gt1: return measure(w, stem_len) > 1;
    case Cond::m_gt1_st: return measure(w, stem_len) > 1 && (w[stem_len - 1] == 's' || w[stem_len - 1] == 't');
    case Cond::logi: return measure(w, word_len - 3) > 0;  // nltk: word[:-3]
  }
  return false;
}

// nltk _apply_rule_list for plain suffix rules.
void apply_rules(Word& w, const Rule* rules, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const Rule& r = rules[i];
    if (w.ends(r.suffix, r.suffix_len)) {
      if (holds(r.cond, w.s.data(), w.s.size() - r.suffix_len, w.s.size())) w.replace(r.suffix_len, r.replacement);
      return;
    }
  }
}

#define RULE(suf, rep, cond) \
  { suf, sizeof(suf) - 1, rep, Cond::cond }

void step1a(Word& w) {
  if (w.ends("ies", 3) && w.s.size() == 4) return w.replace(3, "ie");
  static const Rule rules[] = {RULE("sses", "ss", none), RULE("ies", "i", none), RULE("ss", "ss", none),
                               RULE("s", "", none)};
  apply_rules(w, rules, 4);
}

void step1b(Word& w) {
  if (w.ends("ied", 3)) return w.replace(3, w.s.size() == 4 ? "ie" : "i");
  if (w.ends("eed", 3)) {
    if (measure(w.s.data(), w.s.size() - 3) > 0) w.replace(3, "ee");
    return;
  }
  if (w.ends("ed", 2) && contains_vowel(w.s.data(), w.s.size() - 2)) {
    w.replace(2, "");
  } else if (w.ends("ing", 3) && contains_vowel(w.s.data(), w.s.size() - 3)) {
    w.replace(3, "");
  } else {
    return;
  }
  if (w.ends("at", 2) || w.ends("bl", 2) || w.ends("iz", 2)) return w.replace(0, "e");
  const char* p = w.s.data();
  size_t n = w.s.size();
  if (ends_double_consonant(p, n)) {
    char last = p[n - 1];
    if (last != 'l' && last != 's' && last != 'z') w.s.pop_back();
    return;
  }
  if (measure(p, n) == 1 && ends_cvc(p, n)) w.s.push_back('e');
}

void step1c(Word& w) {
  size_t n = w.s.size();
  if (w.ends("y", 1) && n - 1 > 1 && is_consonant(w.s.data(), n - 2)) w.s[n - 1] = 'i';
}

void step2(Word& w) {
  if (w.ends("alli", 4) && measure(w.s.data(), w.s.size() - 4) > 0) {
    w.replace(4, "al");
    return step2(w);
  }
  static const Rule rules[] = {
      RULE("ational", "ate", m_gt0), RULE("tional", "tion", m_gt0), RULE("enci", "ence", m_gt0),
      RULE("anci", "ance", m_gt0),   RULE("izer", "ize", m_gt0),    RULE("bli", "ble", m_gt0),
      RULE("alli", "al", m_gt0),     RULE("entli", "ent", m_gt0),   RULE("eli", "e", m_gt0),
      RULE("ousli", "ous", m_gt0),   RULE("ization", "ize", m_gt0), RULE("ation", "ate", m_gt0),
      RULE("ator", "ate", m_gt0),    RULE("alism", "al", m_gt0),    RULE("iveness", "ive", m_gt0),
      RULE("fulness", "ful", m_gt0), RULE("ousness", "ous", m_gt0), RULE("aliti", "al", m_gt0),
      RULE("iviti", "ive", m_gt0),   RULE("biliti", "ble", m_gt0),  RULE("fulli", "ful", m_gt0),
      RULE("logi", "log", logi),
  };
  apply_rules(w, rules, sizeof(rules) / sizeof(rules[0]));
}

void step3(Word& w) {
  static const Rule rules[] = {
      RULE("icate", "ic", m_gt0), RULE("ative", "", m_gt0), RULE("alize", "al", m_gt0), RULE("iciti", "ic", m_gt0),
      RULE("ical", "ic", m_gt0),  RULE("ful", "", m_gt0),   RULE("ness", "", m_gt0),
  };
  apply_rules(w, rules, sizeof(rules) / sizeof(rules[0]));
}

void step4(Word& w) {
  static const Rule rules[] = {
      RULE("al", "", m_gt1),   RULE("ance", "", m_gt1), RULE("ence", "", m_gt1),  RULE("er", "", m_gt1),
      RULE("ic", "", m_gt1),   RULE("able", "", m_gt1), RULE("ible", "", m_gt1),  RULE("ant", "", m_gt1),
      RULE("ement", "", m_gt1), RULE("ment", "", m_gt1), RULE("ent", "", m_gt1),  RULE("ion", "", m_gt1_st),
      RULE("ou", "", m_gt1),   RULE("ism", "", m_gt1),  RULE("ate", "", m_gt1),   RULE("iti", "", m_gt1),
      RULE("ous", "", m_gt1),  RULE("ive", "", m_gt1),  RULE("ize", "", m_gt1),
  };
  apply_rules(w, rules, sizeof(rules) / sizeof(rules[0]));
}

#undef RULE

void step5a(Word& w) {
  if (!w.ends("e", 1)) return;
  size_t len = w.s.size() - 1;
  int m = measure(w.s.data(), len);
  if (m > 1 || (m == 1 && !ends_cvc(w.s.data(), len))) w.s.pop_back();
}

void step5b(Word& w) {
  // nltk: ("ll", "l", measure(word[:-1]) > 1)
  if (w.ends("ll", 2) && measure(w.s.data(), w.s.size() - 1) > 1) w.s.pop_back();
}

const char* irregular(std::string_view w) {
  static const struct {
    const char* form;
    const char* stem;
  } pool[] = {{"sky", "sky"},         {"skies", "sky"},       {"dying", "die"},     {"lying", "lie"},
              {"tying", "tie"},       {"news", "news"},       {"innings", "inning"}, {"inning", "inning"},
              {"outings", "outing"},  {"outing", "outing"},   {"cannings", "canning"},
              {"canning", "canning"}, {"howe", "howe"},       {"proceed", "proceed"}, {"exceed", "exceed"},
              {"succeed", "succeed"}};
  for (const auto& e : pool)
    if (w == e.form) return e.stem;
  return nullptr;
}

}  // namespace

std::string porter_stem(std::string_view word) {
  if (const char* s = irregular(word)) return s;
  Word w{std::string(word)};
  // nltk lower-cases first; our callers pass lower-case ASCII already.
  for (char& c : w.s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  if (w.s.size() <= 2) return w.s;
  w.s.reserve(w.s.size() + 4);
  step1a(w);
  step1b(w);
  step1c(w);
  step2(w);
  step3(w);
  step4(w);
  step5a(w);
  step5b(w);
  return std::move(w.s);
}

}  // namespace mds
