// Byte streams over files and stdin/stdout, with transparent zstd decompression
// on input (detected from the frame magic, so `.zst` files and pipes both work)
// and atomic file output (write to a temp file in the same folder, then rename).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace mds {

// Reads raw bytes from a file or "-" (stdin). Errors name the path.
class InputFile {
 public:
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Reads up to n bytes: whatever is available now (a pipe hands over what its
  // writer has written, so lines stream), at least 1 unless at end of input;
  // returns the count (0 at end of file). Retries on EINTR.
  size_t read(void* dst, size_t n);
  const std::string& path() const { return path_; }
  // Display name for messages: "<stdin>" for "-".
  std::string display_name() const;

 private:
  std::string path_;
  int fd_ = -1;
  bool owned_ = false;
};

// Reads a whole file (or stdin) into memory, undecoded.
std::vector<uint8_t> read_all_bytes(const std::string& path);

// A line reader that decompresses zstd input on the fly (any number of
// concatenated frames) and counts lines from 1 for error messages.
class LineReader {
 public:
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its trailing "\n" (a "\r" is kept: callers decide).
  // Returns false at end of input. A final line without "\n" is returned too.
  bool next(std::string& line);
  // 1-based number of the line last returned by next().
  uint64_t line_number() const { return line_number_; }
  std::string display_name() const { return input_.display_name(); }

 private:
  bool fill();  // refills buffer_; false at end of input
  InputFile input_;
  std::vector<char> raw_;
  std::vector<char> buffer_;
  size_t pos_ = 0;
  uint64_t line_number_ = 0;
  bool compressed_ = false;
  bool sniffed_ = false;
  bool raw_eof_ = false;
  struct ZstdState;
  std::unique_ptr<ZstdState> zstd_;
  size_t raw_pos_ = 0, raw_len_ = 0;
};

// Output to a file (atomically: temp + rename on commit()) or "-" (stdout).
// If the object is destroyed without commit(), the temp file is removed and
// the destination is untouched.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  void flush();
  // Flushes, fsyncs and renames the temp file onto the destination.
  void commit();
  bool is_stdout() const { return path_ == "-"; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace mds
