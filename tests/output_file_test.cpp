// Tests of the output guarantees of lib/io: unique temp names, removal of the
// stale temps of dead writers (and only those), in-place writes to devices,
// checked writes (a full disk, the file size limit), the "output is an input"
// and "output folder is writable" checks, and the advisory output lock.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "io/file_lock.h"
#include "io/stream.h"
#include "test_files.h"

namespace fs = std::filesystem;
using namespace mds;

namespace {

using mds::testing::TempDir;

void touch(const fs::path& p) { std::ofstream(p) << "partial"; }

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

// A PID that names no process: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// Runs `body` in a child process and returns its exit status (or 128 + the signal).
template <typename Fn>
int in_child(Fn body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

template <typename Fn>
std::string error_of(Fn fn, ExitCode* code = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

}  // namespace

TEST(OutputFile, TempNameCarriesHostPidAndRandomSuffix) {
  TempDir dir;
  const std::string target = (dir.root() / "x.jsonl").string();
  OutputFile out(target);
  const std::string want = target + ".tmp." + host_name_for_files() + "." + std::to_string(::getpid()) + ".";
  ASSERT_EQ(out.temp_path().compare(0, want.size(), want), 0) << out.temp_path();
  EXPECT_TRUE(std::regex_match(out.temp_path().substr(want.size()), std::regex("[0-9a-f]{16}"))) << out.temp_path();
}

// Two writers of one destination with the same PID (here: one process; in
// practice two containers on one volume) must not share a temp file.
TEST(OutputFile, TwoWritersWithOnePidDoNotShareATempFile) {
  TempDir dir;
  const std::string target = (dir.root() / "x.txt").string();
  OutputFile a(target), b(target);
  EXPECT_NE(a.temp_path(), b.temp_path());
  a.write("first\n");
  b.write("second\n");
  b.commit();
  EXPECT_EQ(mds::testing::read_file(target), "second\n");
  a.commit();  // the later rename wins, whole
  EXPECT_EQ(mds::testing::read_file(target), "first\n");
  EXPECT_EQ(names_in(dir.root()), std::vector<std::string>{"x.txt"});
}

TEST(OutputFile, RemovesOnlyStaleTempsOfDeadWritersOfThisHost) {
  TempDir dir;
  const std::string target = (dir.root() / "model.mds").string();
  const std::string host = host_name_for_files();
  const pid_t dead = dead_pid();
  const std::string stale = "model.mds.tmp." + host + "." + std::to_string(dead) + ".0123456789abcdef";
  const std::string live = "model.mds.tmp." + host + "." + std::to_string(::getpid()) + ".00000000000000aa";
  const std::string other_host = "model.mds.tmp.elsewhere-" + host + "." + std::to_string(dead) + ".0123456789abcdef";
  const std::string old_style = "model.mds.tmp." + std::to_string(dead);  // no host: cannot be told safely
  const std::string other_target = "other.mds.tmp." + host + "." + std::to_string(dead) + ".0123456789abcdef";
  const std::string locked = "model.mds.tmp." + host + "." + std::to_string(dead) + ".00000000000000bb";
  for (const auto& n : {stale, live, other_host, old_style, other_target, locked}) touch(dir.root() / n);
  // A writer in another PID namespace whose PID is free here still holds its lock.
  const int holder = ::open((dir.root() / locked).c_str(), O_RDONLY);
  ASSERT_GE(holder, 0);
  ASSERT_EQ(::flock(holder, LOCK_EX | LOCK_NB), 0);

  {
    OutputFile out(target);
    out.write("ok");
    out.commit();
  }
  std::vector<std::string> want{"model.mds", live, other_host, old_style, other_target, locked};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names_in(dir.root()), want);

  ::close(holder);  // the writer is gone now
  EXPECT_EQ(remove_stale_temp_files(target), 1u);
  EXPECT_FALSE(fs::exists(dir.root() / locked));
  EXPECT_TRUE(fs::exists(dir.root() / live));
}

TEST(OutputFile, DeviceIsWrittenInPlaceNotReplaced) {
  {
    OutputFile out("/dev/null");
    EXPECT_EQ(out.temp_path(), "");
    out.write("discarded");
    out.commit();
  }
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(OutputFile, FullDiskIsAnErrorNamingTheFile) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  ExitCode code{};
  const std::string msg = error_of(
      [] {
        OutputFile out("/dev/full");
        out.write(std::string(100000, 'x'));
        out.commit();
      },
      &code);
  EXPECT_NE(msg.find("/dev/full"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
  EXPECT_EQ(code, ExitCode::runtime);
  struct stat st {};
  ASSERT_EQ(::stat("/dev/full", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

// Past `ulimit -f` (with SIGXFSZ ignored, as the tools do) a write fails with
// EFBIG: an error naming the file, and the temp file is gone.
TEST(OutputFile, FileSizeLimitIsAnErrorAndRemovesTheTemp) {
  TempDir dir;
  const std::string target = (dir.root() / "big.txt").string();
  const int status = in_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 10;
    const std::string msg = error_of([&] {
      OutputFile out(target);
      for (int i = 0; i < 100; ++i) out.write(std::string(1000, 'x'));
      out.commit();
    });
    if (msg.find(target) == std::string::npos) return 11;
    if (msg.find("File too large") == std::string::npos) return 12;
    return 0;
  });
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(names_in(dir.root()).empty());
}

TEST(OutputFile, FolderAsDestinationIsRefused) {
  TempDir dir;
  const std::string msg = error_of([&] { OutputFile out(dir.root().string()); });
  EXPECT_NE(msg.find("is a folder"), std::string::npos) << msg;
}

TEST(OutputGuards, OutputThatIsAnInputIsRefused) {
  TempDir dir;
  const std::string in = (dir.root() / "in.jsonl").string(), other = (dir.root() / "other.jsonl").string();
  touch(in);
  touch(other);
  fs::create_hard_link(in, dir.root() / "link.jsonl");
  ExitCode code{};
  std::string msg = error_of([&] { refuse_output_overwriting_input({"-o", in}, {{"input", other}, {"input", in}}); },
                             &code);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(msg.find("-o " + in + " is the same file as input " + in), std::string::npos) << msg;
  // Another name of the same file.
  msg = error_of([&] {
    refuse_output_overwriting_input({"-o", (dir.root() / "link.jsonl").string()}, {{"-m", in}});
  });
  EXPECT_NE(msg.find("same file as -m"), std::string::npos) << msg;
  // Two names of one file that does not exist yet (a log and a checkpoint).
  msg = error_of([&] {
    refuse_output_overwriting_input({"--log", (dir.root() / "new.mds").string()},
                                    {{"-o", (dir.root() / "." / "new.mds").string()}});
  });
  EXPECT_NE(msg.find("same file"), std::string::npos) << msg;
  EXPECT_EQ(error_of([&] { refuse_output_overwriting_input({"-o", other}, {{"input", in}, {"input", "-"}}); }), "");
  EXPECT_EQ(error_of([&] { refuse_output_overwriting_input({"-o", "/dev/null"}, {{"input", "/dev/null"}}); }), "");
}

TEST(OutputGuards, UnwritableOutputIsFoundAtStart) {
  TempDir dir;
  ExitCode code{};
  const std::string missing = (dir.root() / "missing" / "m.mds").string();
  std::string msg = error_of([&] { check_output_writable({"-o", missing}); }, &code);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(msg.find("-o " + missing), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  touch(dir.root() / "file");
  msg = error_of([&] { check_output_writable({"-o", (dir.root() / "file" / "m.mds").string()}); });
  EXPECT_NE(msg.find("is not a folder"), std::string::npos) << msg;
  msg = error_of([&] { check_output_writable({"-o", dir.root().string()}); });
  EXPECT_NE(msg.find("is a folder"), std::string::npos) << msg;
  EXPECT_EQ(error_of([&] { check_output_writable({"-o", (dir.root() / "ok.mds").string()}); }), "");
  EXPECT_EQ(names_in(dir.root()), std::vector<std::string>{"file"});  // the probe is gone
}

TEST(OutputLock, SecondHolderIsRefusedWithTheFirstNamed) {
  TempDir dir;
  const std::string target = (dir.root() / "m.mds").string();
  {
    OutputLock first(target, "-o", "mds-train");
    ASSERT_TRUE(first.held());
    ExitCode code{};
    const std::string msg = error_of([&] { OutputLock second(target, "-o", "mds-train"); }, &code);
    EXPECT_EQ(code, ExitCode::runtime);
    EXPECT_NE(msg.find("-o " + target + ": another run is writing this file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mds-train, pid " + std::to_string(::getpid()) + " on host " + host_name_for_files()),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find(target + ".lock"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(target + ".lock"));  // removed by its holder
  OutputLock again(target, "-o", "mds-train");
  EXPECT_TRUE(again.held());
  OutputLock device("/dev/null", "-o", "mds-train");  // nothing to protect
  EXPECT_FALSE(device.held());
}
