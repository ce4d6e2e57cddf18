// libFuzzer target: the .mds container reader (lib/io/container.cpp) on
// arbitrary bytes, both as a stream of units and as a single-unit file.
// Every malformed input must end in mds::Error (exit 3 in the tools); any
// other exception, crash, leak or sanitizer report is a finding.
#include "fuzz_util.h"
#include "io/container.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte: bit 0 = repair the checksums (fuzz_util.h).
  const std::string& path = mds::fuzz::write_scratch(mds::fuzz::mds_bytes(data, size));
  try {
    mds::ContainerReader reader(path);
    mds::Container c;
    while (reader.next(c)) {
      for (const mds::Section& s : c.sections) (void)s.element_count();
    }
  } catch (const mds::Error&) {
  }
  try {
    (void)mds::read_container(path, "checkpoint");
  } catch (const mds::Error&) {
  }
  return 0;
}
