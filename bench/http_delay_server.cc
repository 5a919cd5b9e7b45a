// http-delay-server: a local HTTP/1.1 server that answers every request after a fixed delay,
// the "remote service with latency" of the event-loop benchmark (bench/event_loop.sh,
// bench/README.md). Benchmark tooling only, not product code.
//
//   http-delay-server [--port 0] [--host 127.0.0.1] [--delay-ms 50] [--ready-file F]
//
// One thread, one epoll set, non-blocking sockets: no thread per connection. Every request
// (any method, any path) gets "200 OK" with the body "ok\n" after --delay-ms, over keep-alive
// connections (Content-Length framing; a request body with Content-Length is read and
// dropped; pipelined requests are answered in order). The delay is the same for every
// request, so the pending answers form a FIFO that is already ordered by deadline; one
// timerfd is armed at the head's deadline. Open files: the soft RLIMIT_NOFILE is raised to
// the hard one, so it holds as many connections as the hard limit allows (20,000 here).
// The port it listens on goes to --ready-file as {"port":N} (written atomically) once it
// accepts connections. SIGTERM or SIGINT: prints its counters on stderr and exits 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::string_view kBody = "ok\n";

struct Options {
  int port = 0;
  std::string host = "127.0.0.1";
  long delay_ms = 50;
  std::string ready_file;
};

struct Conn {
  int fd = -1;
  uint32_t gen = 0;       // bumped when the fd closes: stale timer entries are dropped
  std::string in;         // bytes read and not yet parsed
  std::string out;        // bytes to write
  size_t out_off = 0;
  uint32_t pending = 0;   // answers waiting for their deadline
  bool close_after = false;  // "Connection: close" or HTTP/1.0 without keep-alive
  bool closing = false;      // the last answer is queued: close once it is written
  bool want_out = false;     // EPOLLOUT is registered
};

struct Due {
  int64_t deadline_ns;
  int fd;
  uint32_t gen;
  bool close;
  int status;  // 200, or 400/431 for a request it cannot parse (sent at once)
};

struct Counters {
  uint64_t requests = 0;
  uint64_t answers = 0;
  uint64_t accepted = 0;
  uint64_t open = 0;
  uint64_t peak_open = 0;
  uint64_t emfile = 0;
};

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "http-delay-server: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void Usage(const char* problem) {
  std::fprintf(stderr,
               "http-delay-server: %s\n"
               "usage: http-delay-server [--port N] [--host 127.0.0.1] [--delay-ms N] "
               "[--ready-file F]\n",
               problem);
  std::exit(2);
}

long ParseNumber(const char* flag, const char* text, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "http-delay-server: %s: '%s' is not a number in [%ld, %ld]\n", flag,
                 text, lo, hi);
    std::exit(2);
  }
  return v;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool inline_value = false;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "http-delay-server: answers every HTTP/1.1 request with 200 \"ok\\n\" after a fixed "
          "delay\n"
          "  --port N         port on --host (default 0: any free one)\n"
          "  --host ADDR      IPv4 address to listen on (default 127.0.0.1)\n"
          "  --delay-ms N     delay of every answer in milliseconds (default 50)\n"
          "  --ready-file F   write {\"port\":N} to F once it accepts connections\n");
      std::exit(0);
    }
    if (arg != "--port" && arg != "--delay-ms" && arg != "--ready-file" && arg != "--host") {
      Usage(("unknown flag " + std::string(arg)).c_str());
    }
    std::string owned;
    if (!inline_value) {
      if (i + 1 >= argc) Usage("a flag lacks its value");
      value = argv[++i];
    }
    owned = std::string(value);
    if (arg == "--port") {
      o.port = static_cast<int>(ParseNumber("--port", owned.c_str(), 0, 65535));
    } else if (arg == "--delay-ms") {
      o.delay_ms = ParseNumber("--delay-ms", owned.c_str(), 0, 3'600'000);
    } else if (arg == "--ready-file") {
      o.ready_file = owned;
    } else {
      o.host = owned;
    }
  }
  return o;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool IContains(std::string_view haystack, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (IEquals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

class Server {
 public:
  explicit Server(const Options& o) : delay_ns_(int64_t{o.delay_ms} * 1'000'000) {
    RaiseFileLimit();
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) Die("epoll_create1");
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);

    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) Die("socket");
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
      Usage(("--host: not an IPv4 address: " + o.host).c_str());
    }
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("bind");
    // The kernel caps the backlog at net.core.somaxconn.
    if (listen(listen_fd_, 65535) != 0) Die("listen");
    socklen_t len = sizeof addr;
    if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      Die("getsockname");
    }
    port_ = ntohs(addr.sin_port);
    Add(listen_fd_, EPOLLIN);

    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) Die("timerfd_create");
    Add(timer_fd_, EPOLLIN);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) Die("sigprocmask");
    signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) Die("signalfd");
    Add(signal_fd_, EPOLLIN);
    signal(SIGPIPE, SIG_IGN);

    response_ = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
    response_close_ = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                      "Content-Length: " + std::to_string(kBody.size()) + "\r\n\r\n" +
                      std::string(kBody);
  }

  int port() const { return port_; }

  // Runs until SIGTERM or SIGINT.
  void Run() {
    std::vector<epoll_event> events(1024);
    while (!stop_) {
      const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        Die("epoll_wait");
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        const uint32_t ev = events[i].events;
        if (fd == listen_fd_) {
          AcceptAll();
        } else if (fd == timer_fd_) {
          uint64_t expirations;
          while (read(timer_fd_, &expirations, sizeof expirations) > 0) {
          }
          armed_ns_ = 0;
        } else if (fd == signal_fd_) {
          stop_ = true;
        } else {
          OnConn(fd, ev);
        }
      }
      FireDue();
    }
    std::fprintf(stderr,
                 "http-delay-server: stopping: %llu requests, %llu answered, %llu connections "
                 "accepted, %llu open, peak %llu open%s\n",
                 static_cast<unsigned long long>(counters_.requests),
                 static_cast<unsigned long long>(counters_.answers),
                 static_cast<unsigned long long>(counters_.accepted),
                 static_cast<unsigned long long>(counters_.open),
                 static_cast<unsigned long long>(counters_.peak_open),
                 counters_.emfile ? " (some connections refused: out of file descriptors)" : "");
  }

 private:
  void RaiseFileLimit() {
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
      }
      getrlimit(RLIMIT_NOFILE, &rl);
      max_fds_ = rl.rlim_cur == RLIM_INFINITY ? 1'048'576 : static_cast<size_t>(rl.rlim_cur);
      if (max_fds_ > 4'194'304) max_fds_ = 4'194'304;
    }
    conns_.resize(max_fds_);
  }

  void Add(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) Die("epoll_ctl ADD");
  }

  void Modify(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
  }

  void AcceptAll() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if ((errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
          // Out of descriptors: take the connection with the spare one and close it, so
          // that the level-triggered listen socket does not spin.
          ++counters_.emfile;
          close(spare_fd_);
          const int victim = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (victim >= 0) close(victim);
          spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
          continue;
        }
        return;  // EAGAIN, or an error for the next round
      }
      if (static_cast<size_t>(fd) >= conns_.size()) {
        close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Conn& c = conns_[fd];
      c.fd = fd;
      c.in.clear();
      c.out.clear();
      c.out_off = 0;
      c.pending = 0;
      c.close_after = c.closing = c.want_out = false;
      Add(fd, EPOLLIN | EPOLLRDHUP);
      ++counters_.accepted;
      if (++counters_.open > counters_.peak_open) counters_.peak_open = counters_.open;
    }
  }

  void Close(Conn& c) {
    if (c.fd < 0) return;
    close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    ++c.gen;
    std::string().swap(c.in);
    std::string().swap(c.out);
    c.out_off = 0;
    c.pending = 0;
    --counters_.open;
  }

  void OnConn(int fd, uint32_t ev) {
    Conn& c = conns_[fd];
    if (c.fd != fd) return;
    if (ev & (EPOLLERR | EPOLLHUP)) {
      Close(c);
      return;
    }
    if (ev & EPOLLOUT) {
      Flush(c);
      if (c.fd < 0) return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP)) Read(c);
  }

  void Read(Conn& c) {
    char buf[16384];
    for (;;) {
      const ssize_t n = read(c.fd, buf, sizeof buf);
      if (n > 0) {
        if (!c.closing) c.in.append(buf, static_cast<size_t>(n));  // else: dropped
        if (static_cast<size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n == 0) {  // the peer closed (or half-closed): nothing more to answer
        Close(c);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(c);
      return;
    }
    Parse(c);
  }

  // Takes every complete request off c.in and schedules its answer.
  void Parse(Conn& c) {
    size_t pos = 0;
    while (!c.closing) {
      const size_t end = c.in.find("\r\n\r\n", pos);
      if (end == std::string::npos) {
        if (c.in.size() - pos > kMaxHeaderBytes) Reject(c, 431);
        break;
      }
      const std::string_view head(c.in.data() + pos, end - pos);
      size_t line_end = head.find("\r\n");
      const std::string_view request_line = head.substr(0, line_end);
      bool keep_alive = !request_line.ends_with("HTTP/1.0");
      size_t content_length = 0;
      bool bad = request_line.find(' ') == std::string_view::npos;
      while (line_end != std::string_view::npos && !bad) {
        const size_t start = line_end + 2;
        line_end = head.find("\r\n", start);
        const std::string_view line = head.substr(start, line_end == std::string_view::npos
                                                             ? std::string_view::npos
                                                             : line_end - start);
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = Trim(line.substr(0, colon));
        const std::string_view value = Trim(line.substr(colon + 1));
        if (IEquals(name, "content-length")) {
          char* stop = nullptr;
          const std::string v(value);
          const unsigned long long len = std::strtoull(v.c_str(), &stop, 10);
          if (v.empty() || *stop != '\0' || len > (1ULL << 32)) bad = true;
          content_length = static_cast<size_t>(len);
        } else if (IEquals(name, "transfer-encoding")) {
          bad = true;  // chunked request bodies are not needed here
        } else if (IEquals(name, "connection")) {
          if (IContains(value, "close")) keep_alive = false;
          if (IContains(value, "keep-alive")) keep_alive = true;
        }
      }
      if (bad) {
        Reject(c, 400);
        break;
      }
      const size_t total = end + 4 - pos + content_length;
      if (c.in.size() - pos < total) break;  // the body is not all here yet
      pos += total;
      ++counters_.requests;
      ++c.pending;
      if (!keep_alive) c.closing = true;
      due_.push_back(Due{NowNs() + delay_ns_, c.fd, c.gen, !keep_alive, 200});
    }
    if (c.fd >= 0) c.in.erase(0, pos);
    if (!due_.empty()) Arm(due_.front().deadline_ns);
  }

  // A request it cannot parse: an error answer, in order after those already queued.
  void Reject(Conn& c, int status) {
    ++c.pending;
    c.closing = true;
    due_.push_back(Due{NowNs(), c.fd, c.gen, true, status});
  }

  void Arm(int64_t deadline_ns) {
    if (armed_ns_ != 0 && armed_ns_ <= deadline_ns) return;
    itimerspec spec{};
    spec.it_value.tv_sec = deadline_ns / 1'000'000'000;
    spec.it_value.tv_nsec = deadline_ns % 1'000'000'000;
    if (deadline_ns <= 0) spec.it_value.tv_nsec = 1;
    if (timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) Die("timerfd_settime");
    armed_ns_ = deadline_ns;
  }

  // Answers every request whose deadline has passed. Entries are queued in deadline order
  // (one delay for all); an error answer (deadline "now") waits behind those queued before
  // it, which keeps every connection's answers in request order.
  void FireDue() {
    if (due_.empty()) return;
    const int64_t now = NowNs();
    touched_.clear();
    while (!due_.empty() && due_.front().deadline_ns <= now) {
      const Due d = due_.front();
      due_.pop_front();
      Conn& c = conns_[d.fd];
      if (c.fd != d.fd || c.gen != d.gen) continue;  // closed meanwhile
      if (d.status == 200) {
        c.out += d.close ? response_close_ : response_;
      } else {
        c.out += "HTTP/1.1 " + std::to_string(d.status) +
                 (d.status == 431 ? " Request Header Fields Too Large" : " Bad Request") +
                 "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
      }
      ++counters_.answers;
      --c.pending;
      if (d.close) c.close_after = true;
      touched_.push_back(d.fd);
    }
    for (const int fd : touched_) {
      Conn& c = conns_[fd];
      if (c.fd == fd && c.out_off < c.out.size()) Flush(c);
    }
    if (!due_.empty()) Arm(due_.front().deadline_ns);
  }

  void Flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                             MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.want_out) {
          c.want_out = true;
          Modify(c.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
        }
        return;
      }
      Close(c);
      return;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.want_out) {
      c.want_out = false;
      Modify(c.fd, EPOLLIN | EPOLLRDHUP);
    }
    if (c.close_after && c.pending == 0) Close(c);
  }

  const int64_t delay_ns_;
  int epfd_ = -1;
  int listen_fd_ = -1;
  int timer_fd_ = -1;
  int signal_fd_ = -1;
  int spare_fd_ = -1;
  int port_ = 0;
  size_t max_fds_ = 1024;
  int64_t armed_ns_ = 0;  // the timerfd's deadline; 0: not armed
  bool stop_ = false;
  std::vector<Conn> conns_;  // by fd
  std::deque<Due> due_;      // answers to send, deadline order
  std::vector<int> touched_;
  std::string response_;
  std::string response_close_;
  Counters counters_;
};

void WriteReadyFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) Die("ready file");
  std::fprintf(f, "{\"port\":%d}\n", port);
  if (std::fclose(f) != 0) Die("ready file");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) Die("ready file rename");
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  Server server(o);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  std::fprintf(stderr, "http-delay-server: listening on %s:%d, delay %ld ms, %llu open files\n",
               o.host.c_str(), server.port(), o.delay_ms,
               static_cast<unsigned long long>(rl.rlim_cur));
  if (!o.ready_file.empty()) WriteReadyFile(o.ready_file, server.port());
  server.Run();
  return 0;
}
