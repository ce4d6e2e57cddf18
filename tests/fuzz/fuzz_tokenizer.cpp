// libFuzzer target: tokenizer files (lib/text/tokenizer_file.cpp). A file
// that loads must then encode and decode without fault; one that does not
// must be refused with mds::Error.
#include "fuzz_util.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte: bit 0 = repair the checksums (fuzz_util.h).
  const std::string& path = mds::fuzz::write_scratch(mds::fuzz::mds_bytes(data, size));
  try {
    const mds::Tokenizer tok = mds::Tokenizer::load(path);
    const std::vector<uint32_t> ids = tok.encode("The cat sat on the mat. \xC3\xA9\xF0\x9F\x98\x80 123");
    (void)tok.decode(ids, /*skip_special=*/false);
    (void)tok.hash();
  } catch (const mds::Error&) {
  }
  return 0;
}
