// Workflow shapes: the nodes and edges that Chain, Group, Chord and their nesting build,
// node naming, and the errors of Build().
#include "client/workflow.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/status_matchers.h"

namespace taskwire::client {
namespace {

using ::taskwire::testing::IsOk;
using ::taskwire::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// "name<-a,b" per node, in node order: the whole DAG in one comparable list.
std::vector<std::string> Edges(const v1::WorkflowSpec& spec) {
  std::vector<std::string> out;
  for (const v1::WorkflowNode& node : spec.nodes()) {
    std::string line = absl::StrCat(node.name(), "<-");
    for (int i = 0; i < node.after_size(); ++i) absl::StrAppend(&line, i ? "," : "", node.after(i));
    out.push_back(line);
  }
  return out;
}

TEST(CanvasTest, ASingleTaskIsOneNodeNamedAfterItsType) {
  absl::StatusOr<v1::WorkflowSpec> spec = Canvas::Task("echo", "hi").Build();
  ASSERT_THAT(spec, IsOk());
  ASSERT_EQ(spec->nodes_size(), 1);
  EXPECT_EQ(spec->nodes(0).name(), "echo-1");
  EXPECT_EQ(spec->nodes(0).task().type(), "echo");
  EXPECT_EQ(spec->nodes(0).task().payload(), "hi");
  EXPECT_THAT(spec->nodes(0).after(), IsEmpty());
}

TEST(CanvasTest, ChainLinksEachTaskToThePreviousOne) {
  absl::StatusOr<v1::WorkflowSpec> spec =
      Chain({Canvas::Task("echo", "hello"), Canvas::Task("echo"), Canvas::Task("sha256")}).Build();
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec), ElementsAre("echo-1<-", "echo-2<-echo-1", "sha256-3<-echo-2"));
}

TEST(CanvasTest, GroupHasNoEdges) {
  absl::StatusOr<v1::WorkflowSpec> spec =
      Group({Canvas::Task("a"), Canvas::Task("b"), Canvas::Task("c")}).Build();
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec), ElementsAre("a-1<-", "b-2<-", "c-3<-"));
}

TEST(CanvasTest, ChordCallbackWaitsForTheGroupInGroupOrder) {
  absl::StatusOr<v1::WorkflowSpec> spec =
      Chord(Group({Canvas::Task("echo", "a"), Canvas::Task("echo", "b"),
                   Canvas::Task("echo", "c")}),
            Canvas::Task("collect"))
          .Build();
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec),
              ElementsAre("echo-1<-", "echo-2<-", "echo-3<-", "collect-4<-echo-1,echo-2,echo-3"));
}

TEST(CanvasTest, NestedShapesLinkSinksToSources) {
  // chain(a, group(chain(b, c), d), e): b waits for a, c for b, d for a, e for c and d.
  absl::StatusOr<v1::WorkflowSpec> spec =
      Chain({Canvas::Task("a"), Group({Chain({Canvas::Task("b"), Canvas::Task("c")}), Canvas::Task("d")}),
             Canvas::Task("e")})
          .Build();
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec), ElementsAre("a-1<-", "b-2<-a-1", "c-3<-b-2", "d-4<-a-1", "e-5<-c-3,d-4"));
}

TEST(CanvasTest, AGroupAfterAGroupWaitsForAllOfIt) {
  absl::StatusOr<v1::WorkflowSpec> spec =
      Chain({Group({Canvas::Task("a"), Canvas::Task("b")}),
             Group({Canvas::Task("c"), Canvas::Task("d")})})
          .Build();
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec), ElementsAre("a-1<-", "b-2<-", "c-3<-a-1,b-2", "d-4<-a-1,b-2"));
}

TEST(CanvasTest, NamedOverridesTheNameAndAutomaticNamesAvoidIt) {
  absl::StatusOr<v1::WorkflowSpec> spec =
      Chain({Canvas::Task("echo"), Canvas::Task("echo").Named("echo-1")}).Build();
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec), ElementsAre("echo-1.2<-", "echo-1<-echo-1.2"));
}

TEST(CanvasTest, AChainOfOneHundredIsOneHundredLinks) {
  std::vector<Canvas> links;
  for (int i = 0; i < 100; ++i) links.push_back(Canvas::Task("echo", i == 0 ? "x" : ""));
  absl::StatusOr<v1::WorkflowSpec> spec = Chain(links).Build();
  ASSERT_THAT(spec, IsOk());
  ASSERT_EQ(spec->nodes_size(), 100);
  for (int i = 1; i < 100; ++i) {
    ASSERT_THAT(spec->nodes(i).after(), ElementsAre(spec->nodes(i - 1).name()));
  }
}

TEST(CanvasTest, BuildRefusesEmptyShapesDuplicateNamesAndNamedComposites) {
  EXPECT_THAT(Chain({}).Build(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("chain")));
  EXPECT_THAT(Chord(Group({}), Canvas::Task("collect")).Build(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("group")));
  EXPECT_THAT(Group({Canvas::Task("a").Named("x"), Canvas::Task("b").Named("x")}).Build(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'x' is used twice")));
  EXPECT_THAT(Group({Canvas::Task("a")}).Named("g").Build(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Named()")));
}

TEST(CanvasTest, ACanvasIsAValueThatCanBeReused) {
  const Canvas step = Canvas::Task("echo", "x");
  absl::StatusOr<v1::WorkflowSpec> spec = Chain({step, step, step}).Build();
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(Edges(*spec), ElementsAre("echo-1<-", "echo-2<-echo-1", "echo-3<-echo-2"));
}

}  // namespace
}  // namespace taskwire::client
