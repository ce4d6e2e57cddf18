// libFuzzer target: token shards (lib/data/shard.cpp) and their report in
// mds-inspect (lib/inspect/inspect.cpp). Bit 1 of the first byte picks the
// mode:
//  - 0: the rest is a shard file (checksums repaired when bit 0 is set, see
//    fuzz_util.h), read record by record as mds-train and mds-tokenize
//    decode do, then inspected;
//  - 1: the rest is split into the four sections of one shard unit (and
//    its record count), so the offset and id checks see arbitrary arrays
//    behind a valid container (a file mutated at random rarely gets past
//    the zstd frames and checksums).
#include <cstring>
#include <vector>

#include "data/shard.h"
#include "fuzz_util.h"
#include "inspect/inspect.h"

namespace {

void read_file(const uint8_t* data, size_t size) {
  const std::string& path = mds::fuzz::write_scratch(mds::fuzz::mds_bytes(data, size));
  try {
    mds::ShardReader reader({path});
    mds::Record r;
    while (reader.next(r)) {
    }
  } catch (const mds::Error&) {
  }
  try {
    (void)mds::render_inspect_text(mds::inspect_file(path, {}));
  } catch (const mds::Error&) {
  }
}

template <typename T>
std::vector<T> take(const uint8_t*& p, const uint8_t* end, size_t count) {
  std::vector<T> v(std::min(count, static_cast<size_t>(end - p) / sizeof(T)));
  if (!v.empty()) std::memcpy(v.data(), p, v.size() * sizeof(T));
  p += v.size() * sizeof(T);
  return v;
}

void check_unit(const uint8_t* data, size_t size) {
  if (size < 6) return;
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  const uint64_t records = *p++;
  const size_t n_src = *p++, n_trg = *p++;
  const uint64_t vocab = 4 + (static_cast<uint64_t>(p[0]) | static_cast<uint64_t>(p[1]) << 8);
  const int format = 1 + (p[2] & 1);
  p += 3;
  mds::ShardUnit u;
  u.meta = {{"format", format}, {"records", records}, {"vocab_size", vocab}, {"tokenizer_hash", "fnv1a64:0"}};
  u.src_offsets = take<uint64_t>(p, end, records + 1);
  u.trg_offsets = take<uint64_t>(p, end, records + 1);
  u.src_ids = take<uint32_t>(p, end, n_src);
  u.trg_ids = take<uint32_t>(p, end, n_trg);
  mds::Container c = mds::shard_unit_to_container(u);
  try {
    mds::ShardUnit back = mds::shard_unit_from_container(c, "fuzz");
    mds::Record r;
    for (size_t i = 0; i < back.size(); ++i) back.record(i, r);
    mds::ShardEndCheck check("fuzz");
    check.data_unit(back, 0, "fuzz");
    check.end_of_file(1);
  } catch (const mds::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 2) == 0)
    read_file(data, size);
  else
    check_unit(data + 1, size - 1);
  return 0;
}
