// The forecast's scaling (run/forecast.*): the ratio of the target's table size to the traced
// one, rows first and bytes when rows are unknown; the statements kept and how figures read.
#include <gtest/gtest.h>

#include "run/forecast.hpp"

using namespace ferry;

TEST(ForecastScale, RowsFirstThenBytesElseNothing) {
  EXPECT_DOUBLE_EQ(*run::size_ratio({1'200'000, 1}, {52'000'000, 1}), 52.0 / 1.2);
  EXPECT_DOUBLE_EQ(*run::size_ratio({-1, 1000}, {500, 10'000}), 10.0);  // traced never analysed: bytes
  EXPECT_DOUBLE_EQ(*run::size_ratio({100, 8192}, {-1, 81920}), 10.0);
  EXPECT_FALSE(run::size_ratio({-1, 0}, {100, 0}).has_value());
  EXPECT_DOUBLE_EQ(*run::size_ratio({1000, 1}, {100, 1}), 0.1);  // a smaller target scales down
}

TEST(ForecastScale, StatementsScaledByTheirLargestGrowingTable) {
  steps::LockTrace t;
  t.environment = "staging";
  t.statements = {{"m/up.sql", 1, {{"ACCESS EXCLUSIVE", "orders"}}, {"orders"}, 900},
                  {"m/up.sql", 2, {{"ACCESS EXCLUSIVE", "orders"}}, {}, 5},  // nothing new: left out
                  {"m/up.sql", 3, {{"ACCESS EXCLUSIVE", "orders"}, {"SHARE", "users"}}, {}, 10}};
  t.tables = {{"orders", {1'200'000, 1}}, {"users", {1'000, 1}}};
  auto f = run::forecast_trace(t, {{"orders", {52'000'000, 1}}, {"users", {100'000, 1}}});
  ASSERT_EQ(f.size(), 2u);
  EXPECT_TRUE(f[0].rewrite);
  EXPECT_NEAR(*f[0].estimated_ms, 39'000, 1e-6);
  EXPECT_EQ(f[0].table, "orders");
  EXPECT_EQ(f[1].line, 3);
  ASSERT_EQ(f[1].locks.size(), 1u);
  EXPECT_EQ(f[1].locks[0].relation, "users");
  EXPECT_NEAR(*f[1].estimated_ms, 1'000, 1e-6);  // users grew 100x
  auto none = run::forecast_trace(t, {});
  EXPECT_FALSE(none[0].estimated_ms.has_value());
}

TEST(ForecastScale, FiguresReadAsPeopleWriteThem) {
  EXPECT_EQ(run::format_ms(0.42), "0.4 ms");
  EXPECT_EQ(run::format_ms(123), "123 ms");
  EXPECT_EQ(run::format_ms(900), "900 ms");
  EXPECT_EQ(run::format_ms(39'000), "39 s");
  EXPECT_EQ(run::format_ms(1'300), "1.3 s");
  EXPECT_EQ(run::format_ms(600'000), "10.0 min");
  EXPECT_EQ(run::format_rows(950), "950");
  EXPECT_EQ(run::format_rows(1'200'000), "1.2M");
  EXPECT_EQ(run::format_rows(52'000'000), "52M");
  EXPECT_EQ(run::format_rows(20'000), "20k");
  EXPECT_EQ(run::format_rows(-1), "unknown");
}

TEST(ForecastScale, LockModesReadAsInTheDocs) {
  EXPECT_EQ(steps::lock_mode_name("AccessExclusiveLock"), "ACCESS EXCLUSIVE");
  EXPECT_EQ(steps::lock_mode_name("ShareLock"), "SHARE");
  EXPECT_EQ(steps::lock_mode_name("ShareUpdateExclusiveLock"), "SHARE UPDATE EXCLUSIVE");
  EXPECT_EQ(steps::lock_mode_name("RowExclusiveLock"), "ROW EXCLUSIVE");
}

TEST(ForecastScale, TraceJsonRoundTrips) {
  steps::LockTrace t;
  t.environment = "staging";
  t.statements = {{"f.sql", 3, {{"SHARE", "orders"}}, {"orders"}, 1.5}};
  t.held_before = {{"ACCESS EXCLUSIVE", "users"}};
  t.tables["orders"] = {10, 8192};
  auto back = steps::parse_trace(steps::trace_json(t));
  EXPECT_EQ(back.environment, "staging");
  ASSERT_EQ(back.statements.size(), 1u);
  EXPECT_EQ(back.statements[0].line, 3);
  EXPECT_EQ(back.statements[0].locks[0].mode, "SHARE");
  EXPECT_EQ(back.statements[0].rewritten, std::vector<std::string>{"orders"});
  EXPECT_DOUBLE_EQ(back.tables["orders"].rows, 10);
  ASSERT_EQ(back.held_before.size(), 1u);
  EXPECT_EQ(back.held_before[0].relation, "users");
  EXPECT_THROW(steps::parse_trace("{}"), Error);
}
