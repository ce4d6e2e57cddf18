// The byte-level BPE tokenizer used by every mds tool: encoding, decoding, and
// the tokenizer file (.mds container of kind "tokenizer") with embedded
// self-test samples checked on load. Training lives in text/bpe_trainer.h so
// users that only encode don't need it. Format and rules: docs/tokenizer.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/special_ids.h"
#include "io/container.h"
#include "text/flat_map.h"

namespace mds {

// Fixed ids: four specials, then the 256 bytes, then one id per merge.
inline constexpr uint32_t kFirstByteId = kNumSpecials;
inline constexpr uint32_t kFirstMergeId = kFirstByteId + 256;
inline constexpr const char* kSpecialNames[kNumSpecials] = {"[PAD]", "[CLS]", "[SEP]", "[MASK]"};

struct Merge {
  uint32_t left = 0, right = 0;
  bool operator==(const Merge& o) const { return left == o.left && right == o.right; }
};

// A self-test sample: text and the ids it must encode to.
struct TokenizerSample {
  std::string text;
  std::vector<uint32_t> ids;
};

class Tokenizer {
 public:
  // A tokenizer with no merges (vocabulary: specials + bytes).
  Tokenizer();
  // Builds from a merge table (merge i creates id kFirstMergeId + i). Throws
  // bad_input if a merge refers to an id not defined before it.
  static Tokenizer from_merges(std::vector<Merge> merges, const std::string& source = "<memory>");

  // Tokenizer files. load() checks the structure, the embedded samples and the
  // content hash, and throws bad_input naming the file if anything is off.
  static Tokenizer load(const std::string& path);
  void save(const std::string& path) const;
  Container to_container() const;
  static Tokenizer from_container(const Container& c);
  // Embedding in another container (e.g. a checkpoint): sections named
  // prefix + "merges", ... and the metadata under c.meta["tokenizer"].
  void add_to(Container& c, const std::string& prefix = "tokenizer/") const;
  static Tokenizer from_embedded(const Container& c, const std::string& prefix = "tokenizer/");

  // Raw bytes to ids. Never produces special ids; any byte string is accepted.
  std::vector<uint32_t> encode(std::string_view text) const;
  void encode_append(std::string_view text, std::vector<uint32_t>& out) const;
  // BPE on one pre-token (no splitting), appended to out.
  void encode_word(std::string_view word, std::vector<uint32_t>& out) const;

  // Ids to bytes. Specials are dropped when skip_special, otherwise written as
  // their names ("[SEP]"). Throws bad_input for an id >= vocab_size().
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special = true) const;
  void decode_append(const uint32_t* ids, size_t n, std::string& out, bool skip_special = true) const;

  size_t vocab_size() const { return token_offsets_.size() - 1; }
  size_t num_merges() const { return merges_.size(); }
  const std::vector<Merge>& merges() const { return merges_; }
  // Bytes of a token (a special's name for ids < kNumSpecials).
  std::string_view token_bytes(uint32_t id) const;
  static bool is_special(uint32_t id) { return id < kNumSpecials; }
  // Id of a special by name ("[PAD]") or of the first token whose bytes equal
  // `token`; nullopt if none. id_of() throws a usage error instead.
  std::optional<uint32_t> find(std::string_view token) const;
  uint32_t id_of(std::string_view token) const;

  // Content hash identifying the tokenizer ("fnv1a64:<16 hex digits>") over
  // the pre-tokenizer name, the specials and the merge table.
  const std::string& hash() const { return hash_; }

  const std::vector<TokenizerSample>& samples() const { return samples_; }
  // Replaces the self-test samples, computing their ids with this tokenizer.
  void set_samples(const std::vector<std::string>& texts);
  // Re-encodes every sample; throws bad_input (naming `source`) on mismatch.
  void check_samples(const std::string& source) const;

  // Free-form provenance (training options, inputs) kept in the file's meta.
  nlohmann::json& training_info() { return training_; }
  const nlohmann::json& training_info() const { return training_; }

 private:
  nlohmann::json meta_json() const;
  std::vector<Section> sections(const std::string& prefix) const;
  static Tokenizer from_parts(const nlohmann::json& meta, const Container& c, const std::string& prefix,
                              const std::string& source);
  void build_tables();

  std::vector<Merge> merges_;
  FlatU64Map ranks_;                    // packed pair -> merge rank
  std::vector<uint32_t> token_offsets_;  // vocab_size + 1 offsets into token_bytes_
  std::string token_bytes_;
  std::string hash_;
  std::vector<TokenizerSample> samples_;
  nlohmann::json training_ = nlohmann::json::object();
};

}  // namespace mds
