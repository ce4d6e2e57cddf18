// Shard writing, validation and reading (shard.h).
#include "data/shard.h"

#include <algorithm>

#include "core/error.h"
#include "core/special_ids.h"

namespace mds {

namespace {

uint64_t meta_uint(const nlohmann::json& meta, const char* key, const std::string& where) {
  auto it = meta.find(key);
  if (it == meta.end()) throw_bad_input("{}: shard metadata lacks the field \"{}\"", where, key);
  if (!it->is_number_unsigned())
    throw_bad_input("{}: shard metadata field \"{}\" must be a non-negative integer, found {}", where, key,
                    it->dump());
  return it->get<uint64_t>();
}

std::string meta_string(const nlohmann::json& meta, const char* key, const std::string& where) {
  auto it = meta.find(key);
  if (it == meta.end()) throw_bad_input("{}: shard metadata lacks the field \"{}\"", where, key);
  if (!it->is_string())
    throw_bad_input("{}: shard metadata field \"{}\" must be a string, found {}", where, key, it->type_name());
  return it->get<std::string>();
}

void check_offsets(const std::vector<uint64_t>& off, uint64_t records, uint64_t ids, const char* name,
                   const std::string& where) {
  if (off.size() != records + 1)
    throw_bad_input("{}: section \"{}\" has {} entries, expected records + 1 = {}", where, name, off.size(),
                    records + 1);
  if (off.front() != 0) throw_bad_input("{}: section \"{}\" must start at 0, found {}", where, name, off.front());
  for (size_t i = 1; i < off.size(); ++i)
    if (off[i] < off[i - 1])
      throw_bad_input("{}: section \"{}\" decreases at record {} ({} after {})", where, name, i - 1, off[i],
                      off[i - 1]);
  if (off.back() != ids)
    throw_bad_input("{}: section \"{}\" ends at {} but the ids section holds {} ids", where, name, off.back(), ids);
}

void check_ids(const std::vector<uint32_t>& ids, const std::vector<uint64_t>& off, uint64_t vocab, const char* name,
               const std::string& where) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= kNumSpecials && ids[i] < vocab) continue;
    const size_t record = static_cast<size_t>(std::upper_bound(off.begin(), off.end(), i) - off.begin()) - 1;
    throw_bad_input("{}: section \"{}\" record {} holds id {}, expected a content id in [{}, {})", where, name,
                    record, ids[i], kNumSpecials, vocab);
  }
}

}  // namespace

// ---- writing ----------------------------------------------------------------

ShardWriter::ShardWriter(const std::string& path, ShardInfo info, size_t records_per_unit, size_t ids_per_unit,
                         bool background_write)
    : out_(path), background_(background_write), info_(std::move(info)),
      records_per_unit_(std::max<size_t>(records_per_unit, 1)), ids_per_unit_(std::max<size_t>(ids_per_unit, 1)) {}

ShardWriter::~ShardWriter() {
  // An unfinished writer is being abandoned (an error elsewhere): let the
  // in-flight unit end; its own error, if any, no longer matters.
  if (pending_.valid()) pending_.wait();
}

void ShardWriter::wait_pending() {
  if (pending_.valid()) pending_.get();  // rethrows a write error
}

void ShardWriter::add(const uint32_t* src, size_t src_len, const uint32_t* trg, size_t trg_len, bool src_truncated,
                      bool trg_truncated) {
  src_ids_.insert(src_ids_.end(), src, src + src_len);
  trg_ids_.insert(trg_ids_.end(), trg, trg + trg_len);
  src_off_.push_back(src_ids_.size());
  trg_off_.push_back(trg_ids_.size());
  src_tokens_ += src_len;
  trg_tokens_ += trg_len;
  unit_truncated_src_ += src_truncated;
  unit_truncated_trg_ += trg_truncated;
  ++records_;
  if (src_off_.size() - 1 >= records_per_unit_ || src_ids_.size() + trg_ids_.size() >= ids_per_unit_) flush_unit();
}

void ShardWriter::flush_unit() {
  ShardUnit u;
  u.meta = {{"format", kShardFormat},
            {"records", src_off_.size() - 1},
            {"vocab_size", info_.vocab_size},
            {"tokenizer_hash", info_.tokenizer_hash},
            {"max_src_len", info_.max_src_len},
            {"max_trg_len", info_.max_trg_len},
            {"truncate", info_.truncate},
            {"truncated_src", unit_truncated_src_},
            {"truncated_trg", unit_truncated_trg_},
            {"src_tokens", src_ids_.size()},
            {"trg_tokens", trg_ids_.size()}};
  u.src_offsets.swap(src_off_);
  u.trg_offsets.swap(trg_off_);
  u.src_ids.swap(src_ids_);
  u.trg_ids.swap(trg_ids_);
  if (background_) {
    wait_pending();
    pending_ = std::async(std::launch::async, [this, c = shard_unit_to_container(u)] { out_.write(c); });
  } else {
    out_.write(shard_unit_to_container(u));
  }
  ++units_;
  src_off_.assign(1, 0);
  trg_off_.assign(1, 0);
  unit_truncated_src_ = unit_truncated_trg_ = 0;
}

void ShardWriter::finish() {
  if (finished_) return;
  if (src_off_.size() > 1 || units_ == 0) flush_unit();
  wait_pending();
  Container end;
  end.kind = kShardEndKind;
  end.meta = {{"format", kShardFormat},
              {"units", units_},
              {"records", records_},
              {"src_tokens", src_tokens_},
              {"trg_tokens", trg_tokens_}};
  out_.write(end);
  out_.commit();
  finished_ = true;
}

Container shard_unit_to_container(const ShardUnit& u) {
  Container c;
  c.kind = "shard";
  c.meta = u.meta;
  c.add(Section::from<uint64_t>("src_offsets", u.src_offsets));
  c.add(Section::from<uint32_t>("src_ids", u.src_ids));
  c.add(Section::from<uint64_t>("trg_offsets", u.trg_offsets));
  c.add(Section::from<uint32_t>("trg_ids", u.trg_ids));
  return c;
}

// ---- validation and reading ------------------------------------------------

void ShardUnit::record(size_t i, Record& out) const {
  out.src.assign(src_ids.begin() + static_cast<std::ptrdiff_t>(src_offsets[i]),
                 src_ids.begin() + static_cast<std::ptrdiff_t>(src_offsets[i + 1]));
  out.trg.assign(trg_ids.begin() + static_cast<std::ptrdiff_t>(trg_offsets[i]),
                 trg_ids.begin() + static_cast<std::ptrdiff_t>(trg_offsets[i + 1]));
}

ShardUnit shard_unit_from_container(const Container& c, const std::string& where) {
  if (c.kind != "shard")
    throw_bad_input("{}: expected a unit of kind \"shard\", found kind \"{}\"", where, c.kind);
  if (!c.meta.is_object()) throw_bad_input("{}: shard metadata must be a JSON object", where);
  const uint64_t format = meta_uint(c.meta, "format", where);
  if (format > static_cast<uint64_t>(kShardFormat))
    throw_bad_input("{}: shard format {} is newer than this build reads ({}); upgrade mds", where, format,
                    kShardFormat);
  const uint64_t records = meta_uint(c.meta, "records", where);
  const uint64_t vocab = meta_uint(c.meta, "vocab_size", where);
  if (vocab <= kNumSpecials || vocab > (uint64_t{1} << 32))
    throw_bad_input("{}: shard metadata vocab_size {} is out of range (expected {}..2^32)", where, vocab,
                    kNumSpecials + 1);
  meta_string(c.meta, "tokenizer_hash", where);
  ShardUnit u;
  u.meta = c.meta;
  u.src_offsets = c.section("src_offsets").to_vector<uint64_t>();
  u.src_ids = c.section("src_ids").to_vector<uint32_t>();
  u.trg_offsets = c.section("trg_offsets").to_vector<uint64_t>();
  u.trg_ids = c.section("trg_ids").to_vector<uint32_t>();
  check_offsets(u.src_offsets, records, u.src_ids.size(), "src_offsets", where);
  check_offsets(u.trg_offsets, records, u.trg_ids.size(), "trg_offsets", where);
  check_ids(u.src_ids, u.src_offsets, vocab, "src_ids", where);
  check_ids(u.trg_ids, u.trg_offsets, vocab, "trg_ids", where);
  return u;
}

void ShardEndCheck::data_unit(const ShardUnit& unit, uint64_t offset, const std::string& where) {
  const uint64_t format = unit.meta["format"].get<uint64_t>();
  if (format < 2) {
    // A format-1 unit has no end unit to wait for; format-2 units before it
    // must have been closed, or the file they came from was cut.
    if (open_units_)
      throw_bad_input("{}: a format {} unit follows {} format {} unit(s) (from offset {}) that no \"{}\" unit "
                      "closed: the shard before offset {} is truncated",
                      where, format, open_units_, kShardFormat, open_from_, kShardEndKind, offset);
    return;
  }
  if (!open_units_) open_from_ = offset;
  ++open_units_;
  open_records_ += unit.size();
  open_src_ += unit.src_ids.size();
  open_trg_ += unit.trg_ids.size();
  last_unit_ = offset;
}

void ShardEndCheck::end_unit(const Container& c, const std::string& where) {
  if (!c.meta.is_object()) throw_bad_input("{}: end unit metadata must be a JSON object", where);
  const uint64_t format = meta_uint(c.meta, "format", where);
  if (format > static_cast<uint64_t>(kShardFormat))
    throw_bad_input("{}: shard format {} is newer than this build reads ({}); upgrade mds", where, format,
                    kShardFormat);
  if (!c.sections.empty())
    throw_bad_input("{}: an end unit holds no sections, found {} (\"{}\" first)", where, c.sections.size(),
                    c.sections.front().name);
  const struct {
    const char* key;
    uint64_t have;
  } counts[] = {{"units", open_units_}, {"records", open_records_}, {"src_tokens", open_src_}, {"trg_tokens", open_trg_}};
  for (const auto& k : counts) {
    const uint64_t want = meta_uint(c.meta, k.key, where);
    if (want != k.have)
      throw_bad_input("{}: the end unit counts {} {} but {} precede it since {}: units are missing or were "
                      "added",
                      where, want, k.key, k.have,
                      open_units_ ? fmt::format("offset {}", open_from_) : std::string("the previous end unit"));
  }
  if (!open_units_) throw_bad_input("{}: an end unit with no data units before it", where);
  open_units_ = open_records_ = open_src_ = open_trg_ = 0;
  ++end_units_;
}

void ShardEndCheck::end_of_file(uint64_t offset) const {
  if (!open_units_) return;
  throw_bad_input("{}: offset {}: the shard ends after the unit at offset {} without its end unit: expected a unit of kind \"{}\" "
                  "closing the {} unit(s) ({} records) from offset {}; the file is truncated (was its writer "
                  "stopped?)",
                  file_, offset, last_unit_, kShardEndKind, open_units_, open_records_, open_from_);
}

ShardReader::ShardReader(std::vector<std::string> paths) : paths_(std::move(paths)) {
  if (paths_.empty()) paths_.push_back("-");
}

bool ShardReader::load_next_unit() {
  while (file_index_ < paths_.size()) {
    if (!reader_) {
      reader_ = std::make_unique<ContainerReader>(paths_[file_index_]);
      end_check_ = std::make_unique<ShardEndCheck>(reader_->display_name());
      unit_index_ = 0;
    }
    const uint64_t offset = reader_->offset();
    Container c;
    if (!reader_->next(c)) {
      end_check_->end_of_file(reader_->offset());
      reader_.reset();
      ++file_index_;
      continue;
    }
    where_ = fmt::format("{}: unit {} at offset {}", reader_->display_name(), unit_index_, offset);
    ++unit_index_;
    if (c.kind == kShardEndKind) {
      end_check_->end_unit(c, where_);
      continue;
    }
    unit_ = shard_unit_from_container(c, where_);
    end_check_->data_unit(unit_, offset, where_);
    const uint64_t vocab = unit_.meta["vocab_size"].get<uint64_t>();
    const std::string hash = unit_.meta["tokenizer_hash"].get<std::string>();
    if (tokenizer_hash_.empty()) {
      tokenizer_hash_ = hash;
      vocab_size_ = vocab;
    } else if (hash != tokenizer_hash_ || vocab != vocab_size_) {
      throw_bad_input("{}: made with tokenizer {} (vocabulary {}), but earlier units with {} (vocabulary {}); "
                      "encode all shards with one tokenizer",
                      where_, hash, vocab, tokenizer_hash_, vocab_size_);
    }
    pos_ = 0;
    return true;
  }
  return false;
}

bool ShardReader::next(Record& r) {
  while (pos_ >= unit_.size()) {
    if (!load_next_unit()) return false;
  }
  unit_.record(pos_++, r);
  ++records_read_;
  return true;
}

bool ShardReader::next_unit(ShardUnit& unit) {
  // Records of the current unit not yet returned by next() are skipped.
  if (!load_next_unit()) return false;
  unit = unit_;
  pos_ = unit_.size();
  records_read_ += unit.size();
  return true;
}

std::vector<Record> read_all_records(const std::vector<std::string>& paths, ShardInfo* info) {
  ShardReader reader(paths);
  std::vector<Record> out;
  Record r;
  while (reader.next(r)) out.push_back(std::move(r));
  if (info) {
    info->vocab_size = reader.vocab_size();
    info->tokenizer_hash = reader.tokenizer_hash();
    const nlohmann::json& m = reader.unit_meta();
    info->max_src_len = m.value("max_src_len", uint64_t{0});
    info->max_trg_len = m.value("max_trg_len", uint64_t{0});
    info->truncate = m.value("truncate", std::string("end"));
  }
  return out;
}

}  // namespace mds
