#include "scheduler/core/effects.h"

#include <iterator>
#include <string_view>

#include "absl/container/flat_hash_set.h"

namespace taskwire::scheduler {

Outbox& Effects::OutboxFor(const std::shared_ptr<ExecutorChannel>& channel) {
  for (Outbox& o : sends) {
    if (o.channel == channel) return o;
  }
  sends.push_back(Outbox{channel, {}, {}});
  return sends.back();
}

void Append(StoreBatch& to, StoreBatch& from) {
  // `from` is left empty, not holding moved-from records: a batch held back after a failed
  // commit is merged again on the retry.
  auto move_all = [](auto& dst, auto& src) {
    if (dst.empty()) {
      dst.swap(src);
    } else {
      dst.insert(dst.end(), std::make_move_iterator(src.begin()),
                 std::make_move_iterator(src.end()));
      src.clear();
    }
  };
  move_all(to.tasks, from.tasks);
  move_all(to.workflows, from.workflows);
  move_all(to.deleted_tasks, from.deleted_tasks);
  move_all(to.deleted_workflows, from.deleted_workflows);
}

namespace {

// The earlier versions would be overwritten in the same transaction anyway.
template <typename Record>
void KeepLastVersions(std::vector<Record>& records) {
  if (records.size() < 2) return;
  absl::flat_hash_set<std::string_view> seen;  // views into `records`, unmoved until the end
  seen.reserve(records.size());
  std::vector<bool> keep(records.size());
  size_t kept = 0;
  for (size_t i = records.size(); i-- > 0;) {
    keep[i] = seen.insert(records[i].id).second;
    kept += keep[i];
  }
  if (kept == records.size()) return;
  std::vector<Record> last;
  last.reserve(kept);
  for (size_t i = 0; i < records.size(); ++i) {
    if (keep[i]) last.push_back(std::move(records[i]));
  }
  records.swap(last);
}

}  // namespace

StoreBatch MergeSaves(std::deque<Effects>& rounds) {
  StoreBatch saves;
  for (Effects& fx : rounds) Append(saves, fx.saves);
  KeepLastVersions(saves.tasks);
  KeepLastVersions(saves.workflows);
  return saves;
}

}  // namespace taskwire::scheduler
