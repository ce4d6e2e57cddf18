// Shards to an in-memory Dataset (see shard_dataset.h).
#include "train/shard_dataset.h"

#include "core/error.h"
#include "data/shard.h"

namespace mds::train {

Dataset load_shard_dataset(const std::vector<std::string>& paths, const std::string& tokenizer_hash,
                           const std::string& role) {
  std::vector<std::string> files = paths.empty() ? std::vector<std::string>{"-"} : paths;
  Dataset d;
  for (const std::string& f : files) d.name += (d.name.empty() ? "" : ", ") + (f == "-" ? std::string("<stdin>") : f);
  ShardReader reader(files);
  ShardUnit unit;
  while (reader.next_unit(unit)) {
    if (!tokenizer_hash.empty() && reader.tokenizer_hash() != tokenizer_hash)
      throw_bad_input("{}: encoded with tokenizer {}, but the run's tokenizer is {}; encode the {} data with the "
                      "same tokenizer (mds-tokenize encode -m TOKENIZER)",
                      reader.where(), reader.tokenizer_hash(), tokenizer_hash, role);
    for (size_t i = 0; i < unit.size(); ++i)
      d.add(unit.src_ids.data() + unit.src_offsets[i], unit.src_offsets[i + 1] - unit.src_offsets[i],
            unit.trg_ids.data() + unit.trg_offsets[i], unit.trg_offsets[i + 1] - unit.trg_offsets[i]);
  }
  if (d.empty()) throw_bad_input("{}: no {} pairs", d.name, role);
  return d;
}

}  // namespace mds::train
