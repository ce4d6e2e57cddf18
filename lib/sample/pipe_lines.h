// Line reading that streams from pipes, FIFOs and terminals: each refill is
// one read(2) that returns what is available, so a line is handed over as
// soon as it arrives. (io/stream.h's LineReader refills with fread, which
// waits for a full megabyte or the end of the input: right for files, but it
// would hold mds-sample's first results until its input ends.) zstd input is
// detected from the frame magic and decompressed on the fly, like LineReader.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mds {

class PipeLineReader {
 public:
  // "-" is standard input.
  explicit PipeLineReader(const std::string& path);
  ~PipeLineReader();
  PipeLineReader(const PipeLineReader&) = delete;
  PipeLineReader& operator=(const PipeLineReader&) = delete;

  // Next line without its "\n"; false at the end of input.
  bool next(std::string& line);
  uint64_t line_number() const { return line_number_; }
  std::string display_name() const { return path_ == "-" ? "<stdin>" : path_; }

 private:
  size_t read_some(char* dst, size_t n);  // one read(2); 0 at end of input
  bool fill();                             // appends decoded bytes to buf_; false at end of input
  std::string path_;
  int fd_ = -1;
  bool owned_ = false;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t line_number_ = 0;
  std::vector<char> raw_;
  bool sniffed_ = false, compressed_ = false, eof_ = false;
  struct Zstd;
  std::unique_ptr<Zstd> zstd_;
};

// True for "-" and for paths that are not regular files (pipes, FIFOs,
// character devices): inputs whose lines may arrive over time.
bool is_streaming_input(const std::string& path);

}  // namespace mds
