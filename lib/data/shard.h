// Token shards: the (src ids, trg ids) records that mds-tokenize encode writes
// and the trainer reads. A shard file is a stream of .mds units of kind
// "shard" closed by one unit of kind "shard-end" that counts them (layout in
// docs/format.md, "Shards"); files can be concatenated.
// Ids are plain content ids in [4, vocab_size): no [CLS]/[SEP]/[PAD], the
// model packs those itself.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/container.h"

namespace mds {

struct Record {
  std::vector<uint32_t> src, trg;
};

// What every unit of a shard records about how it was made.
struct ShardInfo {
  uint64_t vocab_size = 0;
  std::string tokenizer_hash;  // Tokenizer::hash()
  uint64_t max_src_len = 0;    // 0 = no limit
  uint64_t max_trg_len = 0;
  std::string truncate = "end";  // end | start | error
};

// The shard layout version this build writes (and the newest it reads).
// Format 2 closes every file with an end unit; format 1 files have none.
constexpr int kShardFormat = 2;
// Kind of the unit that closes a format-2 shard file.
inline constexpr const char* kShardEndKind = "shard-end";

// Writes records, starting a new unit every `records_per_unit` records or
// once a unit holds `ids_per_unit` ids. An empty shard still gets one unit
// (with 0 records) so the output is a valid .mds file. finish() appends the
// end unit, whose counts let a reader tell a whole file from one cut after
// any of its units (a writer killed mid-stream). With background_write,
// a full unit is compressed and written on a helper thread while the caller
// goes on adding records (at most one unit in flight).
class ShardWriter {
 public:
  static constexpr size_t kRecordsPerUnit = 8192;
  static constexpr size_t kIdsPerUnit = size_t{1} << 22;

  ShardWriter(const std::string& path, ShardInfo info, size_t records_per_unit = kRecordsPerUnit,
              size_t ids_per_unit = kIdsPerUnit, bool background_write = false);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;
  void add(const uint32_t* src, size_t src_len, const uint32_t* trg, size_t trg_len, bool src_truncated = false,
           bool trg_truncated = false);
  void add(const Record& r) { add(r.src.data(), r.src.size(), r.trg.data(), r.trg.size()); }
  // Writes the last unit and commits the file (atomically unless stdout).
  void finish();
  uint64_t records() const { return records_; }
  uint64_t units() const { return units_; }

 private:
  void flush_unit();
  void wait_pending();

  ContainerWriter out_;
  bool background_;
  std::future<void> pending_;
  ShardInfo info_;
  size_t records_per_unit_, ids_per_unit_;
  std::vector<uint64_t> src_off_{0}, trg_off_{0};
  std::vector<uint32_t> src_ids_, trg_ids_;
  uint64_t unit_truncated_src_ = 0, unit_truncated_trg_ = 0;
  uint64_t records_ = 0, units_ = 0;
  uint64_t src_tokens_ = 0, trg_tokens_ = 0;
  bool finished_ = false;
};

// One decoded and validated shard unit.
struct ShardUnit {
  nlohmann::json meta;
  std::vector<uint64_t> src_offsets, trg_offsets;  // size() + 1 each
  std::vector<uint32_t> src_ids, trg_ids;
  size_t size() const { return src_offsets.empty() ? 0 : src_offsets.size() - 1; }
  void record(size_t i, Record& out) const;
};

// Checks a container of kind "shard" (sections, offsets, id range, meta) and
// returns its records; bad_input names `where` (file and offset) on failure.
ShardUnit shard_unit_from_container(const Container& c, const std::string& where);
Container shard_unit_to_container(const ShardUnit& unit);

// Checks the sequence of units of one shard file against its end units: every
// format-2 data unit must be followed, before the end of the file or a
// format-1 unit, by an end unit whose counts (units, records, tokens) match
// the data units since the previous end unit or the start of the file.
// Format-1 units (written before end units existed) stand alone. Failures are
// bad_input naming the file and the byte offset.
class ShardEndCheck {
 public:
  explicit ShardEndCheck(std::string file) : file_(std::move(file)) {}
  // A validated data unit that starts at `offset`.
  void data_unit(const ShardUnit& unit, uint64_t offset, const std::string& where);
  // An end unit (kind kShardEndKind); `where` names it for messages.
  void end_unit(const Container& c, const std::string& where);
  // The file ends at `offset` (its size).
  void end_of_file(uint64_t offset) const;
  uint64_t end_units() const { return end_units_; }

 private:
  std::string file_;
  uint64_t open_units_ = 0, open_records_ = 0, open_src_ = 0, open_trg_ = 0;
  uint64_t open_from_ = 0;      // offset of the first unit not yet closed
  uint64_t last_unit_ = 0;      // offset of the last data unit, for messages
  uint64_t end_units_ = 0;
};

// Iterates the records of one or more shard files ("-" = stdin) in order.
// All units must come from the same tokenizer (same hash and vocab size).
class ShardReader {
 public:
  explicit ShardReader(std::vector<std::string> paths);
  bool next(Record& r);
  // Next whole unit (for statistics); false at the end of the last file.
  bool next_unit(ShardUnit& unit);

  // Known after the first unit has been read.
  uint64_t vocab_size() const { return vocab_size_; }
  const std::string& tokenizer_hash() const { return tokenizer_hash_; }
  // Meta of the unit the last record came from.
  const nlohmann::json& unit_meta() const { return unit_.meta; }
  uint64_t records_read() const { return records_read_; }
  // "file, unit N at offset X" of the current unit, for messages.
  const std::string& where() const { return where_; }

 private:
  bool load_next_unit();

  std::vector<std::string> paths_;
  size_t file_index_ = 0;
  std::unique_ptr<ContainerReader> reader_;
  std::unique_ptr<ShardEndCheck> end_check_;
  uint64_t unit_index_ = 0;
  ShardUnit unit_;
  size_t pos_ = 0;
  uint64_t vocab_size_ = 0;
  std::string tokenizer_hash_;
  std::string where_;
  uint64_t records_read_ = 0;
};

// Reads every record of the given shard files into memory.
std::vector<Record> read_all_records(const std::vector<std::string>& paths, ShardInfo* info = nullptr);

}  // namespace mds
