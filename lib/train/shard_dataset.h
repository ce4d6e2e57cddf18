// Loads token shards (files or "-" = stdin, read once) into a Dataset and
// checks that they were encoded with the run's tokenizer.
#pragma once

#include <string>
#include <vector>

#include "train/dataset.h"

namespace mds::train {

// Reads every record of `paths` in order. If tokenizer_hash is not empty,
// every unit must carry it (bad_input naming the file and unit otherwise).
// `role` ("training", "validation") only words the messages.
Dataset load_shard_dataset(const std::vector<std::string>& paths, const std::string& tokenizer_hash,
                           const std::string& role);

}  // namespace mds::train
