#include "clients/migratectl/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/migratectl/output.h"
#include "clients/migratectl/views.h"
#include "services/common/migration_state.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;
namespace {

constexpr int kBarWidth = 30;
constexpr int kStateBarWidth = 20;

std::string Bar(int filled, int width, char on, char off) {
  filled = std::clamp(filled, 0, width);
  return std::string(static_cast<size_t>(filled), on) + std::string(static_cast<size_t>(width - filled), off);
}

std::string Lower(std::string text) {
  for (char& c : text) c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int Percent(int done, int total) { return total > 0 ? done * 100 / total : 0; }

}  // namespace

void ApplyUserTransition(v1::UserMoveCounts* counts, v1::UserMoveState from, v1::UserMoveState to) {
  auto* by_state = counts->mutable_by_state();
  for (int i = 0; i < by_state->size(); ++i) {
    if (by_state->Get(i).state() == from) {
      by_state->Mutable(i)->set_count(by_state->Get(i).count() - 1);
      if (by_state->Get(i).count() <= 0) by_state->DeleteSubrange(i, 1);
      break;
    }
  }
  int at = 0;
  while (at < by_state->size() && by_state->Get(at).state() < to) ++at;
  if (at < by_state->size() && by_state->Get(at).state() == to) {
    by_state->Mutable(at)->set_count(by_state->Get(at).count() + 1);
    return;
  }
  v1::UserMoveStateCount added;
  added.set_state(to);
  added.set_count(1);
  by_state->Add(std::move(added));
  for (int i = by_state->size() - 1; i > at; --i) by_state->SwapElements(i, i - 1);
}

ProgressPrinter::ProgressPrinter(std::ostream& out, Mode mode, std::function<absl::Time()> clock,
                                 absl::Duration line_interval)
    : out_(out), mode_(mode), clock_(std::move(clock)), line_interval_(line_interval) {}

std::string ProgressPrinter::Eta(const v1::Migration& migration, absl::Time now) {
  const int total = migration.counts().total();
  const int done = DoneCount(migration.counts());
  if (MigrationHasEnded(migration.state()) || done >= total) return "";
  if (migration.phase() != v1::MIGRATION_PHASE_MOVES) return "";
  if (moves_start_time_ == absl::InfinitePast()) return "";
  const absl::Duration elapsed = now - moves_start_time_;
  const int finished = done - moves_start_done_;
  if (finished <= 0 || elapsed <= absl::ZeroDuration()) return "";
  const absl::Duration eta = elapsed * (static_cast<double>(total - done) / finished);
  return absl::StrCat("ETA ", FormatDurationShort(eta));
}

std::string ProgressPrinter::Line(const v1::Migration& migration, absl::Time now) {
  const int total = migration.counts().total();
  const int done = DoneCount(migration.counts());
  std::string line = absl::StrCat(TimeText(now), "  ", PhaseName(migration.phase()), "  ", StateName(migration.state()),
                                  "  ", done, "/", total, " done (", Percent(done, total), "%)");
  const std::string counts = CountsSummary(migration.counts());
  if (!counts.empty()) absl::StrAppend(&line, "  ", counts);
  const std::string eta = Eta(migration, now);
  if (!eta.empty()) absl::StrAppend(&line, "  ", eta);
  if (!migration.state_reason().empty() && migration.state() != v1::MIGRATION_STATE_RUNNING) {
    absl::StrAppend(&line, "  (", migration.state_reason(), ")");
  }
  return line;
}

std::string ProgressPrinter::Block(const v1::Migration& migration, absl::Time now) {
  const int total = migration.counts().total();
  const int done = DoneCount(migration.counts());
  std::string block =
      absl::StrCat(migration.name(), "  phase ", PhaseName(migration.phase()), " (",
                   static_cast<int>(migration.phase()), "/9)  state ", StateName(migration.state()), "\n");
  if (!migration.state_reason().empty() && migration.state() != v1::MIGRATION_STATE_RUNNING) {
    absl::StrAppend(&block, "  ", migration.state_reason(), "\n");
  }
  absl::StrAppend(&block, "[", Bar(total > 0 ? done * kBarWidth / total : 0, kBarWidth, '#', '-'), "]  ", done, "/",
                  total, " users done  ", Percent(done, total), "%");
  const std::string eta = Eta(migration, now);
  if (!eta.empty()) absl::StrAppend(&block, "  ", eta);
  absl::StrAppend(&block, "\n");
  for (const v1::UserMoveStateCount& count : migration.counts().by_state()) {
    std::string bar =
        total > 0 ? Bar((count.count() * kStateBarWidth + total - 1) / total, kStateBarWidth, '#', ' ') : "";
    while (!bar.empty() && bar.back() == ' ') bar.pop_back();
    absl::StrAppend(&block, absl::StrFormat("  %-16s %6d  %s", Lower(StateName(count.state())), count.count(), bar),
                    "\n");
  }
  return block;
}

void ProgressPrinter::Update(const v1::Migration& migration) {
  const absl::Time now = clock_();
  if (migration.phase() == v1::MIGRATION_PHASE_MOVES && moves_start_time_ == absl::InfinitePast()) {
    moves_start_time_ = now;
    moves_start_done_ = DoneCount(migration.counts());
  }
  last_ = migration;
  have_last_ = true;
  pending_ = true;
  Draw(/*force=*/false);
}

void ProgressPrinter::Note(const std::string& message) {
  if (mode_ == Mode::kLines) {
    out_ << TimeText(clock_()) << "  " << message << "\n";
    out_.flush();
    return;
  }
  // Above the block: erase it, print the note, draw the block again below.
  if (drawn_lines_ > 0) out_ << "\033[" << drawn_lines_ << "F\033[J";
  drawn_lines_ = 0;
  out_ << message << "\n";
  if (have_last_) Draw(/*force=*/true);
}

void ProgressPrinter::Draw(bool force) {
  if (!have_last_) return;
  const absl::Time now = clock_();
  if (mode_ == Mode::kLines) {
    const std::string phase_state =
        absl::StrCat(PhaseName(last_.phase()), " ", StateName(last_.state()), " ", last_.state_reason());
    const std::string counts = CountsSummary(last_.counts());
    const bool phase_changed = phase_state != last_phase_state_;
    const bool counts_changed = counts != last_counts_;
    if (phase_changed || (counts_changed && (force || now - last_line_time_ >= line_interval_))) {
      out_ << Line(last_, now) << "\n";
      out_.flush();
      last_phase_state_ = phase_state;
      last_counts_ = counts;
      last_line_time_ = now;
      pending_ = false;
    }
    return;
  }
  if (!force && now - last_draw_time_ < absl::Milliseconds(100)) return;
  const std::string block = Block(last_, now);
  if (drawn_lines_ > 0) out_ << "\033[" << drawn_lines_ << "F\033[J";
  out_ << block;
  out_.flush();
  drawn_lines_ = static_cast<int>(std::count(block.begin(), block.end(), '\n'));
  last_draw_time_ = now;
  pending_ = false;
}

void ProgressPrinter::Finish() {
  if (!have_last_) return;
  if (mode_ == Mode::kLines) {
    if (pending_) {
      // The final counts, even if a line went out less than a second ago.
      const std::string counts = CountsSummary(last_.counts());
      if (counts != last_counts_) {
        out_ << Line(last_, clock_()) << "\n";
        last_counts_ = counts;
      }
    }
    out_.flush();
    return;
  }
  Draw(/*force=*/true);
}

}  // namespace crosstenant::migratectl
