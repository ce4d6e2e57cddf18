// Fixtures shared by the tests that work with files: a fresh temporary
// directory per test (removed afterwards), and reading back what a tool wrote
// to a file or to a stdio stream.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

namespace mds::testing {

// The whole content of the file at `path`; a file that cannot be opened
// fails the test (and reads as "").
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Everything written to the stream f so far (it is rewound; it stays open).
inline std::string read_stream(std::FILE* f) {
  std::rewind(f);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  return text;
}

// An empty directory of its own for the running test, removed with the
// object: mds_<suite>_<test>_<pid>_<n> under the system's temporary directory.
class TempDir {
 public:
  TempDir() {
    const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string test = t ? std::string(t->test_suite_name()) + "_" + t->name() : std::string("none");
    dir_ = std::filesystem::temp_directory_path() /
           ("mds_" + test + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ec;  // never throw from a destructor
    std::filesystem::remove_all(dir_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory itself.
  const std::filesystem::path& root() const { return dir_; }
  // The path of `name` inside the directory.
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Writes `text` to `name` inside the directory; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

// A test fixture with a TempDir: path(name) and write(name, text) inside it.
class TempDirTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.path(name); }
  std::string write(const std::string& name, const std::string& text) const { return dir_.write(name, text); }

  TempDir dir_;
};

}  // namespace mds::testing
