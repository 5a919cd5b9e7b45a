// WriteReadyFile (what scripts wait on) and the shutdown-signal pair.
#include "common/process_signals.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::HasSubstr;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// A fresh directory per test, removed afterwards.
class WriteReadyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "taskwire-ready-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(WriteReadyFileTest, WritesTheJsonPlusANewlineToThePath) {
  const std::filesystem::path path = dir_ / "ready.json";
  ASSERT_THAT(WriteReadyFile(path.string(), R"({"port":1234})"), IsOk());
  EXPECT_EQ(ReadFile(path), "{\"port\":1234}\n");
}

TEST_F(WriteReadyFileTest, ReplacesAnOldFileAndLeavesNoTempFileBehind) {
  const std::filesystem::path path = dir_ / "ready.json";
  std::ofstream(path) << "an old, much longer ready file from a previous run\n";
  ASSERT_THAT(WriteReadyFile(path.string(), R"({"port":5})"), IsOk());
  EXPECT_EQ(ReadFile(path), "{\"port\":5}\n");
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_),
                          std::filesystem::directory_iterator()),
            1);
}

// Even root cannot create a file under a path whose parent is a regular file.
TEST_F(WriteReadyFileTest, FailsWithAnErrorNamingThePathForAnUnwritableDirectory) {
  const std::filesystem::path not_a_dir = dir_ / "plain-file";
  std::ofstream(not_a_dir) << "x";
  const std::string path = (not_a_dir / "ready.json").string();
  EXPECT_THAT(WriteReadyFile(path, "{}"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(path)));
}

TEST_F(WriteReadyFileTest, FailsForAMissingDirectory) {
  const std::string path = (dir_ / "no-such-dir" / "ready.json").string();
  EXPECT_THAT(WriteReadyFile(path, "{}"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot write")));
  EXPECT_FALSE(std::filesystem::exists(path));
}

// A file-size limit makes the kernel refuse the write (EFBIG) just as a full disk would
// (ENOSPC). The limit is process-wide, so nothing else may write a file while it is set.
TEST_F(WriteReadyFileTest, FailsRatherThanPublishATruncatedFileWhenTheWriteFails) {
  const std::filesystem::path path = dir_ / "ready.json";
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit tiny = old_limit;
  tiny.rlim_cur = 4;  // bytes: less than the JSON below
  const sighandler_t old_xfsz = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tiny), 0);
  const absl::Status status = WriteReadyFile(path.string(), R"({"port":1234})");
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_xfsz);

  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot write")));
  // Scripts poll for this path: it must never appear holding a cut-off document.
  EXPECT_FALSE(std::filesystem::exists(path)) << "contents: '" << ReadFile(path) << "'";
}

// BlockShutdownSignals changes this thread's mask and SIGPIPE's disposition: the test puts
// both back so that later tests in this process see the defaults.
TEST(ShutdownSignalsTest, WaitForShutdownSignalReturnsAPendingSigterm) {
  sigset_t old_mask;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &old_mask), 0);
  struct sigaction old_pipe {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &old_pipe), 0);

  BlockShutdownSignals();
  ASSERT_EQ(raise(SIGTERM), 0);  // blocked, so it stays pending for this thread
  EXPECT_EQ(WaitForShutdownSignal(), SIGTERM);
  struct sigaction pipe_now {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &pipe_now), 0);
  EXPECT_EQ(pipe_now.sa_handler, SIG_IGN);

  sigaction(SIGPIPE, &old_pipe, nullptr);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

}  // namespace
}  // namespace taskwire
