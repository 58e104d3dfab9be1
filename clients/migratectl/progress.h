#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_PROGRESS_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_PROGRESS_H_

// Live progress of a migration for `migratectl migrate status --watch` (and `migrate start --watch`).
//
// On a terminal it redraws a block in place (at most ten times a second): the phase and state, an
// overall bar of users done with an ETA, and one bar per user state with its count:
//
//   migrations/merger  phase MOVES (7/9)  state RUNNING
//   [##############----------------]  246/528 users done  46%  ETA 1m12s
//     queued         180  ##########
//     in progress     94  #####
//     success        238  #############
//     blocked          8
//
// When the output is not a terminal (piped, redirected, CI logs) it prints plain timestamped lines
// instead: one for every phase or state change and, at most once per `line_interval`, one when the
// counts changed.
//
//   2026-11-28T11:40:02Z  MOVES  RUNNING  246/528 done (46%)  queued 180, in progress 94, success 238, blocked 8  ETA 1m12s
//
// The ETA is the users left divided by the rate at which users finished since the MOVES phase was
// first seen; it is shown once that rate is known.

#include <functional>
#include <ostream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crosstenant/v1/migration.pb.h"

namespace crosstenant::migratectl {

// Moves one user from `from` to `to` in `counts`, keeping the states in enum order and leaving out
// states with no user, so that a watcher's counts follow every per-user transition between the
// orchestrator's progress events (sent at most once a second).
void ApplyUserTransition(crosstenant::v1::UserMoveCounts* counts, crosstenant::v1::UserMoveState from,
                         crosstenant::v1::UserMoveState to);

class ProgressPrinter {
 public:
  enum class Mode { kBars, kLines };

  // `clock` is injectable for tests; `line_interval` limits count-only lines in kLines mode.
  ProgressPrinter(std::ostream& out, Mode mode, std::function<absl::Time()> clock = absl::Now,
                  absl::Duration line_interval = absl::Seconds(1));

  // The migration as it is now (a snapshot, or one rebuilt from the events that followed it).
  void Update(const crosstenant::v1::Migration& migration);
  // A one-line message to show above the progress (e.g. a user's transition to FAILED).
  void Note(const std::string& message);
  // Draws the last state once more, unthrottled, and leaves the cursor below it.
  void Finish();

  // The line printed in kLines mode for `migration` at `now` (exposed for tests).
  std::string Line(const crosstenant::v1::Migration& migration, absl::Time now);

 private:
  std::string Block(const crosstenant::v1::Migration& migration, absl::Time now);
  std::string Eta(const crosstenant::v1::Migration& migration, absl::Time now);
  void Draw(bool force);

  std::ostream& out_;
  Mode mode_;
  std::function<absl::Time()> clock_;
  absl::Duration line_interval_;
  crosstenant::v1::Migration last_;
  bool have_last_ = false;
  std::string last_phase_state_;
  std::string last_counts_;
  absl::Time last_line_time_ = absl::InfinitePast();
  absl::Time last_draw_time_ = absl::InfinitePast();
  int drawn_lines_ = 0;
  bool pending_ = false;
  // Rate tracking for the ETA.
  absl::Time moves_start_time_ = absl::InfinitePast();
  int moves_start_done_ = 0;
};

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_PROGRESS_H_
