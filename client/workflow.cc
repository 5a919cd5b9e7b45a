#include "client/workflow.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace taskwire::client {

struct Canvas::Shape {
  Kind kind = Kind::kTask;
  v1::TaskSpec spec;     // kTask
  std::string name;      // kTask; empty: automatic
  bool named_composite = false;  // Named() on a chain or group: an error at Build()
  std::vector<Canvas> parts;  // kChain, kGroup
};

// Flattens a shape into nodes. Each call returns the shape's sources (nodes with no
// upstream inside the shape) and sinks (nodes with no downstream inside it).
class Canvas::Builder {
 public:
  struct Ends {
    std::vector<int> sources;
    std::vector<int> sinks;
  };

  absl::StatusOr<Ends> Add(const Shape& shape) {
    if (shape.named_composite) {
      return absl::InvalidArgumentError("Named() applies to a task, not to a chain or group");
    }
    switch (shape.kind) {
      case Kind::kTask: {
        const int index = static_cast<int>(nodes_.size());
        v1::WorkflowNode node;
        node.set_name(shape.name);
        *node.mutable_task() = shape.spec;
        nodes_.push_back(std::move(node));
        return Ends{{index}, {index}};
      }
      case Kind::kChain: {
        if (shape.parts.empty()) return absl::InvalidArgumentError("a chain needs at least one part");
        Ends chain;
        for (size_t i = 0; i < shape.parts.size(); ++i) {
          absl::StatusOr<Ends> part = Add(*shape.parts[i].shape_);
          if (!part.ok()) return part.status();
          if (i == 0) {
            chain.sources = part->sources;
          } else {
            for (int source : part->sources) after_[source] = chain.sinks;
          }
          chain.sinks = part->sinks;
        }
        return chain;
      }
      case Kind::kGroup: {
        if (shape.parts.empty()) return absl::InvalidArgumentError("a group needs at least one part");
        Ends group;
        for (const Canvas& c : shape.parts) {
          absl::StatusOr<Ends> part = Add(*c.shape_);
          if (!part.ok()) return part.status();
          group.sources.insert(group.sources.end(), part->sources.begin(), part->sources.end());
          group.sinks.insert(group.sinks.end(), part->sinks.begin(), part->sinks.end());
        }
        return group;
      }
    }
    return absl::InternalError("unknown shape");
  }

  absl::StatusOr<v1::WorkflowSpec> Finish() {
    absl::flat_hash_set<std::string> used;
    for (const v1::WorkflowNode& node : nodes_) {
      if (node.name().empty()) continue;
      if (!used.insert(node.name()).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("node name '", node.name(), "' is used twice"));
      }
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      v1::WorkflowNode& node = nodes_[i];
      if (!node.name().empty()) continue;
      // Types are at most 128 characters; the name keeps within the same limit.
      const std::string base = node.task().type().substr(0, 100);
      std::string name = absl::StrCat(base.empty() ? "node" : base, "-", i + 1);
      for (int k = 2; used.contains(name); ++k) {
        name = absl::StrCat(base.empty() ? "node" : base, "-", i + 1, ".", k);
      }
      used.insert(name);
      node.set_name(std::move(name));
    }
    v1::WorkflowSpec spec;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      v1::WorkflowNode* node = spec.add_nodes();
      *node = nodes_[i];  // a copy: later nodes still read this one's name
      for (int upstream : after_[static_cast<int>(i)]) {
        node->add_after(nodes_[static_cast<size_t>(upstream)].name());
      }
    }
    return spec;
  }

 private:
  std::vector<v1::WorkflowNode> nodes_;
  absl::flat_hash_map<int, std::vector<int>> after_;  // node index -> upstream indexes
};

Canvas Canvas::Task(v1::TaskSpec spec) {
  auto shape = std::make_shared<Shape>();
  shape->spec = std::move(spec);
  return Canvas(std::move(shape));
}

Canvas Canvas::Task(std::string type, std::string payload) {
  v1::TaskSpec spec;
  spec.set_type(std::move(type));
  spec.set_payload(std::move(payload));
  return Task(std::move(spec));
}

Canvas Canvas::Named(std::string name) const {
  auto shape = std::make_shared<Shape>(*shape_);
  if (shape->kind == Kind::kTask) {
    shape->name = std::move(name);
  } else {
    shape->named_composite = true;
  }
  return Canvas(std::move(shape));
}

absl::StatusOr<v1::WorkflowSpec> Canvas::Build() const {
  Builder builder;
  absl::StatusOr<Builder::Ends> ends = builder.Add(*shape_);
  if (!ends.ok()) return ends.status();
  return builder.Finish();
}

Canvas Chain(std::vector<Canvas> parts) {
  auto shape = std::make_shared<Canvas::Shape>();
  shape->kind = Canvas::Kind::kChain;
  shape->parts = std::move(parts);
  return Canvas(std::move(shape));
}

Canvas Group(std::vector<Canvas> parts) {
  auto shape = std::make_shared<Canvas::Shape>();
  shape->kind = Canvas::Kind::kGroup;
  shape->parts = std::move(parts);
  return Canvas(std::move(shape));
}

Canvas Chord(Canvas group, Canvas callback) {
  return Chain({std::move(group), std::move(callback)});
}

}  // namespace taskwire::client
