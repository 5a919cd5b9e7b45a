// Small helpers the fuzz targets share, header-only so that the targets build the same
// under GCC (the replay driver) and clang (libFuzzer) without the clang-only
// <fuzzer/FuzzedDataProvider.h>:
//   - ByteReader turns the fuzzer's bytes into choices, numbers and strings, and into
//     zeros once they run out, so every input is a complete scenario;
//   - FailOnErrorLogs makes an error logged by the code under test (the core's "bug: ..."
//     lines, say) abort the run, so that a build without asserts still reports it.
#ifndef TASKWIRE_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define TASKWIRE_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"

namespace taskwire::fuzz {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return size_ - pos_; }

  uint8_t Byte() { return empty() ? 0 : data_[pos_++]; }
  bool Bool() { return (Byte() & 1) != 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | Byte();
    return v;
  }
  // A number in [0, n), n > 0, from one byte (two when n > 256).
  uint32_t Below(uint32_t n) {
    const uint32_t raw = n > 256 ? (uint32_t{Byte()} << 8 | Byte()) : Byte();
    return raw % n;
  }
  // A length byte, then that many bytes (fewer at the end of the input).
  std::string String(size_t max_size = 255) {
    const size_t want = Byte() % (max_size + 1);
    return Take(want);
  }
  // Everything that is left.
  std::string Rest() { return Take(remaining()); }

 private:
  std::string Take(size_t n) {
    n = n < remaining() ? n : remaining();
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

namespace internal {

class AbortOnErrorSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::err) return;
    std::fprintf(stderr, "fuzz: the code under test logged an error: %.*s\n",
                 static_cast<int>(msg.payload.size()), msg.payload.data());
    std::abort();
  }
  void flush_() override {}
};

}  // namespace internal

// Replaces the default logger: info and warnings are dropped (they would drown the
// fuzzer's output), errors abort. Call once, from LLVMFuzzerInitialize.
inline void FailOnErrorLogs() {
  auto logger =
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<internal::AbortOnErrorSink>());
  logger->set_level(spdlog::level::err);
  spdlog::set_default_logger(std::move(logger));
}

// Only drops the logs, for targets whose code logs errors about bad input on purpose.
inline void QuietLogs() { spdlog::set_level(spdlog::level::off); }

}  // namespace taskwire::fuzz

// A CHECK for invariants the targets assert themselves: live in every build type.
#define TASKWIRE_FUZZ_CHECK(cond, what)                                           \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "fuzz: %s:%d: %s failed: %s\n", __FILE__, __LINE__,    \
                   #cond, std::string(what).c_str());                             \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

#endif  // TASKWIRE_TESTS_FUZZ_FUZZ_SUPPORT_H_
