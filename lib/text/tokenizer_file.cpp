// Tokenizer files and embedding: the .mds container of kind "tokenizer"
// (layout in docs/tokenizer.md), validated on load by structure checks, the
// self-test samples and the content hash.
#include <algorithm>

#include "core/error.h"
#include "text/display.h"
#include "text/pretokenizer.h"
#include "text/tokenizer.h"

namespace mds {

namespace {

constexpr int kTokenizerFormat = 1;

const nlohmann::json& require(const nlohmann::json& meta, const char* key, const std::string& source) {
  auto it = meta.find(key);
  if (it == meta.end()) throw_bad_input("{}: tokenizer metadata lacks the field \"{}\"", source, key);
  return *it;
}

std::string require_string(const nlohmann::json& meta, const char* key, const std::string& source) {
  const auto& v = require(meta, key, source);
  if (!v.is_string())
    throw_bad_input("{}: tokenizer metadata field \"{}\" must be a string, found {}", source, key, v.type_name());
  return v.get<std::string>();
}

uint64_t require_uint(const nlohmann::json& meta, const char* key, const std::string& source) {
  const auto& v = require(meta, key, source);
  // A parsed file holds unsigned integers; metadata built in memory (a
  // tokenizer embedded by add_to, not yet written) holds signed ones.
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    throw_bad_input("{}: tokenizer metadata field \"{}\" must be a non-negative integer, found {}", source, key,
                    v.dump());
  return v.get<uint64_t>();
}

// Offsets section: k+1 non-decreasing u64 values from 0 to `total`.
std::vector<uint64_t> read_offsets(const Section& s, uint64_t total, const std::string& source) {
  auto off = s.to_vector<uint64_t>();
  if (off.empty() || off.front() != 0 || off.back() != total || !std::is_sorted(off.begin(), off.end()))
    throw_bad_input("{}: section \"{}\" must hold non-decreasing offsets from 0 to {}; it does not", source, s.name,
                    total);
  return off;
}

}  // namespace

nlohmann::json Tokenizer::meta_json() const {
  nlohmann::json m;
  m["type"] = "byte_bpe";
  m["format"] = kTokenizerFormat;
  m["vocab_size"] = vocab_size();
  m["num_merges"] = merges_.size();
  m["specials"] = nlohmann::json::array();
  for (const char* name : kSpecialNames) m["specials"].push_back(name);
  m["first_byte_id"] = kFirstByteId;
  m["first_merge_id"] = kFirstMergeId;
  m["pretokenizer"] = kPretokenizerName;
  m["max_pretoken_bytes"] = kMaxPretokenBytes;
  m["hash"] = hash_;
  m["samples"] = samples_.size();
  m["training"] = training_;
  return m;
}

std::vector<Section> Tokenizer::sections(const std::string& prefix) const {
  std::vector<uint32_t> flat;
  flat.reserve(merges_.size() * 2);
  for (const Merge& m : merges_) {
    flat.push_back(m.left);
    flat.push_back(m.right);
  }
  std::string text;
  std::vector<uint64_t> text_off{0}, ids_off{0};
  std::vector<uint32_t> ids;
  for (const TokenizerSample& s : samples_) {
    text += s.text;
    text_off.push_back(text.size());
    ids.insert(ids.end(), s.ids.begin(), s.ids.end());
    ids_off.push_back(ids.size());
  }
  std::vector<Section> out;
  out.push_back(Section::from<uint32_t>(prefix + "merges", flat, {static_cast<int64_t>(merges_.size()), 2}));
  out.push_back(Section::from_string(prefix + "sample_text", text));
  out.push_back(Section::from<uint64_t>(prefix + "sample_text_offsets", text_off));
  out.push_back(Section::from<uint32_t>(prefix + "sample_ids", ids));
  out.push_back(Section::from<uint64_t>(prefix + "sample_ids_offsets", ids_off));
  return out;
}

Container Tokenizer::to_container() const {
  Container c;
  c.kind = "tokenizer";
  c.meta = meta_json();
  c.sections = sections("");
  return c;
}

void Tokenizer::add_to(Container& c, const std::string& prefix) const {
  nlohmann::json m = meta_json();
  m["section_prefix"] = prefix;
  c.meta["tokenizer"] = m;
  for (Section& s : sections(prefix)) c.add(std::move(s));
}

void Tokenizer::save(const std::string& path) const { write_container(path, to_container()); }

Tokenizer Tokenizer::load(const std::string& path) { return from_container(read_container(path, "tokenizer")); }

Tokenizer Tokenizer::from_container(const Container& c) {
  const std::string source = c.source.empty() ? "<memory>" : c.source;
  if (c.kind != "tokenizer")
    throw_bad_input("{}: expected a container of kind \"tokenizer\", found kind \"{}\"", source, c.kind);
  return from_parts(c.meta, c, "", source);
}

Tokenizer Tokenizer::from_embedded(const Container& c, const std::string& prefix) {
  const std::string source = c.source.empty() ? "<memory>" : c.source;
  auto it = c.meta.find("tokenizer");
  if (it == c.meta.end() || !it->is_object())
    throw_bad_input("{}: this {} file has no embedded tokenizer (meta field \"tokenizer\")", source, c.kind);
  return from_parts(*it, c, prefix, source);
}

Tokenizer Tokenizer::from_parts(const nlohmann::json& meta, const Container& c, const std::string& prefix,
                                const std::string& source) {
  const std::string type = require_string(meta, "type", source);
  if (type != "byte_bpe")
    throw_bad_input("{}: tokenizer type \"{}\" is not supported; expected \"byte_bpe\"", source, type);
  const uint64_t format = require_uint(meta, "format", source);
  if (format > static_cast<uint64_t>(kTokenizerFormat))
    throw_bad_input("{}: tokenizer format {} is newer than this build reads ({}); upgrade mds", source, format,
                    kTokenizerFormat);
  const std::string pre = require_string(meta, "pretokenizer", source);
  if (pre != kPretokenizerName)
    throw_bad_input("{}: pre-tokenizer \"{}\" is not known to this build (expected \"{}\")", source, pre,
                    kPretokenizerName);
  const auto& specials = require(meta, "specials", source);
  nlohmann::json expected_specials = nlohmann::json::array();
  for (const char* name : kSpecialNames) expected_specials.push_back(name);
  if (specials != expected_specials)
    throw_bad_input("{}: special tokens {} differ from the expected {}", source, specials.dump(),
                    expected_specials.dump());

  const Section& ms = c.section(prefix + "merges");
  auto flat = ms.to_vector<uint32_t>();
  if (flat.size() % 2 != 0 || ms.shape.size() != 2 || ms.shape[1] != 2 ||
      static_cast<uint64_t>(ms.shape[0]) * 2 != flat.size())
    throw_bad_input("{}: section \"{}\" must have shape [n, 2] with 2n values; found {} values", source, ms.name,
                    flat.size());
  std::vector<Merge> merges(flat.size() / 2);
  for (size_t i = 0; i < merges.size(); ++i) merges[i] = {flat[2 * i], flat[2 * i + 1]};
  Tokenizer t = from_merges(std::move(merges), source);

  const uint64_t vocab = require_uint(meta, "vocab_size", source);
  if (vocab != t.vocab_size())
    throw_bad_input("{}: metadata says vocab_size {} but the merge table defines {} tokens", source, vocab,
                    t.vocab_size());

  // Samples first: a wrong merge table shows up as a concrete mis-encoding.
  const std::string text = c.section(prefix + "sample_text").to_string();
  const auto ids = c.section(prefix + "sample_ids").to_vector<uint32_t>();
  const auto text_off = read_offsets(c.section(prefix + "sample_text_offsets"), text.size(), source);
  const auto ids_off = read_offsets(c.section(prefix + "sample_ids_offsets"), ids.size(), source);
  if (text_off.size() != ids_off.size())
    throw_bad_input("{}: {} sample texts but {} sample id lists", source, text_off.size() - 1, ids_off.size() - 1);
  for (size_t i = 0; i + 1 < text_off.size(); ++i) {
    TokenizerSample s;
    s.text = text.substr(text_off[i], text_off[i + 1] - text_off[i]);
    s.ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(ids_off[i]),
                 ids.begin() + static_cast<std::ptrdiff_t>(ids_off[i + 1]));
    t.samples_.push_back(std::move(s));
  }
  t.check_samples(source);

  const std::string hash = require_string(meta, "hash", source);
  if (hash != t.hash())
    throw_bad_input("{}: content hash mismatch: the file records {} but its merge table hashes to {}; the merge "
                    "table is corrupted",
                    source, hash, t.hash());
  if (auto it = meta.find("training"); it != meta.end() && it->is_object()) t.training_ = *it;
  return t;
}

void Tokenizer::check_samples(const std::string& source) const {
  for (size_t i = 0; i < samples_.size(); ++i) {
    const TokenizerSample& s = samples_[i];
    std::vector<uint32_t> got = encode(s.text);
    if (got == s.ids) continue;
    size_t k = 0;
    while (k < got.size() && k < s.ids.size() && got[k] == s.ids[k]) ++k;
    // Show both id lists from a little before the first difference.
    const size_t from = k > 4 ? k - 4 : 0;
    auto window = [from](const std::vector<uint32_t>& v) {
      return std::vector<uint32_t>(v.begin() + static_cast<std::ptrdiff_t>(std::min(from, v.size())), v.end());
    };
    throw_bad_input(
        "{}: tokenizer self-test failed: sample {} (\"{}\") encodes to {} ids but the file expects {}; from token "
        "{} on, got {} but expected {}; the merge table is corrupted or was written by an incompatible tokenizer",
        source, i, escape_bytes(s.text, 60), got.size(), s.ids.size(), from, format_ids(window(got), 10),
        format_ids(window(s.ids), 10));
  }
}

}  // namespace mds
