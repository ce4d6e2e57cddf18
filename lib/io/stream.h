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
  // Waits up to timeout_ms for input (poll(2)): true when read() would not
  // block (bytes, the end of input or an error are there), false when none
  // arrived in time. A regular file is always ready.
  bool wait_readable(int timeout_ms);
  // The size of a regular file (an allocation hint: it may still change);
  // 0 for pipes, terminals and empty files.
  uint64_t size_hint() const;
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
  // Waits up to timeout_ms for a whole line: true when next() can return
  // without waiting for its writer (a line is buffered, or the input has
  // ended), false when the input stayed idle for timeout_ms or delivered only
  // part of a line. Bytes that arrive meanwhile are buffered, not lost.
  bool wait_for_line(int timeout_ms);
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
//
// The temp file is "PATH.tmp.HOST.PID.RANDOM" in the destination's folder
// (created with O_EXCL, so two writers never share one, even with equal PIDs
// in two containers on one volume) and is flock()ed while it is written.
// Creating one first removes stale temps of the same destination: those whose
// HOST is this host, whose PID names no live process here, and whose lock
// can be taken (the kernel drops a dead writer's lock; the lock also covers a
// writer in another PID namespace of this host). Temps of other hosts, and
// the old "PATH.tmp.PID" names, which carry no host, are never removed: a
// live writer elsewhere cannot be told from a dead one.
//
// A destination that exists and is not a regular file (/dev/null, /dev/full,
// a FIFO, /dev/stdout) is written in place: renaming over it would replace
// the device. Every write, flush, fsync and close is checked; a failure
// throws a runtime error naming the destination and the errno text.
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
  // The temp file being written ("" for stdout and for in-place destinations).
  const std::string& temp_path() const { return temp_path_; }

 private:
  [[noreturn]] void fail(const char* what, int error) const;
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Removes the stale temp files of `path` (see OutputFile) and returns how many
// were removed. OutputFile calls it; exposed for tests.
size_t remove_stale_temp_files(const std::string& path);

// A file a tool reads or writes, with the flag that named it, for messages
// ("-o", "--tokenizer", "input").
struct NamedPath {
  std::string flag;
  std::string path;
};

// Throws a usage error (exit 2) when `output` is the same file as one of
// `inputs` (same device and inode; an input "-" compares standard input), so
// that "-o x.jsonl x.jsonl" cannot truncate its own input. Outputs "-", ""
// and non-regular files (devices, FIFOs) are not checked.
void refuse_output_overwriting_input(const NamedPath& output, const std::vector<NamedPath>& inputs);

// Throws a usage error (exit 2) unless `output` can be written: its folder
// exists and a file can be created there (a temp file is created and removed
// at once), and it is not a folder. For tools that write their output only
// after long work. "-", "" and existing non-regular files pass.
void check_output_writable(const NamedPath& output);

// "HOST" part of temp and lock files: the host name with every byte outside
// [A-Za-z0-9_-] replaced by '_', at most 64 bytes ("unknown" if none).
std::string host_name_for_files();

}  // namespace mds
