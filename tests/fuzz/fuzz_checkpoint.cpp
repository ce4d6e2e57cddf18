// libFuzzer target: checkpoints as mds-sample and mds-inspect load them
// (lib/sample/checkpoint_loader.cpp: container, embedded tokenizer, model
// config, weights and their finiteness; lib/train/checkpoint.cpp). Any
// refusal must be mds::Error.
#include "fuzz_util.h"
#include "sample/checkpoint_loader.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte: bit 0 = repair the checksums (fuzz_util.h).
  const std::string& path = mds::fuzz::write_scratch(mds::fuzz::mds_bytes(data, size));
  try {
    mds::ModelLoadOptions o;
    o.path = path;
    o.device = "cpu";
    o.threads = 1;
    (void)mds::load_sampling_model(o);
  } catch (const mds::Error&) {
  }
  try {
    const mds::Container c = mds::train::read_checkpoint(path);
    mds::train::check_finite(c);
  } catch (const mds::Error&) {
  }
  return 0;
}
