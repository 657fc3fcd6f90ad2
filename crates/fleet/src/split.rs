//! Splitting one step's load across workers so the parts add up to the
//! whole: connections partitioned (no worker more than one above another),
//! and an open-model rate split into interleaved shares, each worker
//! sending every W-th operation of the one global schedule (as k6's
//! execution segments do), so the merged arrivals keep the requested
//! schedule exactly.

/// One worker's part of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// The worker's connections.
    pub connections: u32,
    /// Open model: the worker's rate, operations per second.
    pub rate_per_s: Option<f64>,
    /// Open model: the worker's first operation is due this long after
    /// the common start (its place in the global schedule), seconds.
    pub phase_s: f64,
}

/// Why a split cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    /// No worker to split across.
    #[error("no worker to run the load")]
    NoWorkers,
    /// Fewer connections than workers: some would have none.
    #[error("{connections} connections cannot be split across {workers} workers (each needs at least one)")]
    TooFewConnections {
        /// Connections asked for.
        connections: u32,
        /// Workers available.
        workers: usize,
    },
}

/// Worker `k`'s part of `total` across `workers`: the parts add up to
/// the total, none more than one above another (connections, a
/// count-bound step's operations).
pub fn part(total: u64, k: usize, workers: usize) -> u64 {
    let w = workers.max(1) as u64;
    total / w + u64::from((k as u64) < total % w)
}

/// Which rows of a `--data` feed worker `k` of `workers` takes: rows
/// `first`, `first + 1`, … `count` of them, wrapping after the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowShare {
    /// Its first row.
    pub first: usize,
    /// How many rows, from there.
    pub count: usize,
}

/// Deals a feed's `rows` out to the workers. `unique` rows go once each
/// (worker k takes the rows of its own operations: `operations` is the
/// step's count, so the shares are disjoint and together the first
/// `operations` rows); other orders give every worker every row, from its
/// own place (a `k`-th of the way in), so sequential workers do not send
/// the same row at once.
pub fn row_share(
    rows: usize,
    unique: bool,
    operations: Option<u64>,
    k: usize,
    workers: usize,
) -> RowShare {
    let w = workers.max(1);
    if unique {
        let total = operations.map_or(rows as u64, |n| n.min(rows as u64));
        let first: u64 = (0..k).map(|j| part(total, j, w)).sum();
        RowShare {
            first: first as usize,
            count: part(total, k, w) as usize,
        }
    } else {
        RowShare {
            first: rows * k / w,
            count: rows,
        }
    }
}

/// Splits `connections` (and an open-model `rate_per_s`) across `workers`.
pub fn split(
    connections: u32,
    rate_per_s: Option<f64>,
    workers: usize,
) -> Result<Vec<Share>, SplitError> {
    if workers == 0 {
        return Err(SplitError::NoWorkers);
    }
    if (connections as usize) < workers {
        return Err(SplitError::TooFewConnections {
            connections,
            workers,
        });
    }
    let w = workers as u32;
    Ok((0..w)
        .map(|k| Share {
            // At most `connections`: fits the u32 it came from.
            connections: part(u64::from(connections), k as usize, workers) as u32,
            // Worker k sends operations k, k + W, k + 2W, … of the global
            // schedule: a W-th of the rate, offset by k global periods.
            rate_per_s: rate_per_s.map(|r| r / f64::from(w)),
            phase_s: rate_per_s.map_or(0.0, |r| f64::from(k) / r),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_add_up_and_differ_by_at_most_one() {
        let shares = split(100, None, 3).unwrap();
        let c: Vec<u32> = shares.iter().map(|s| s.connections).collect();
        assert_eq!(c, vec![34, 33, 33]);
        assert_eq!(c.iter().sum::<u32>(), 100);
        assert!(shares
            .iter()
            .all(|s| s.rate_per_s.is_none() && s.phase_s == 0.0));
        assert_eq!(
            split(2, None, 3),
            Err(SplitError::TooFewConnections {
                connections: 2,
                workers: 3
            })
        );
        assert_eq!(split(2, None, 0), Err(SplitError::NoWorkers));
        let operations: Vec<u64> = (0..3).map(|k| part(10, k, 3)).collect();
        assert_eq!(operations, vec![4, 3, 3]);
    }

    /// Unique rows are dealt out once: the shares are disjoint, each the
    /// worker's count of operations, and together the first `operations`
    /// rows. Other orders give each worker every row from its own place.
    #[test]
    fn unique_rows_are_dealt_once_and_other_orders_share_every_row() {
        let shares: Vec<RowShare> = (0..3)
            .map(|k| row_share(1000, true, Some(10), k, 3))
            .collect();
        assert_eq!(
            shares,
            vec![
                RowShare { first: 0, count: 4 },
                RowShare { first: 4, count: 3 },
                RowShare { first: 7, count: 3 },
            ]
        );
        let mut taken: Vec<usize> = (0..7)
            .map(|k| row_share(1000, true, Some(1000), k, 7))
            .flat_map(|s| s.first..s.first + s.count)
            .collect();
        taken.sort_unstable();
        assert_eq!(taken, (0..1000).collect::<Vec<_>>());
        assert_eq!(
            row_share(5, true, Some(9), 0, 1),
            RowShare { first: 0, count: 5 }
        );
        let all: Vec<RowShare> = (0..4).map(|k| row_share(10, false, None, k, 4)).collect();
        assert!(all.iter().all(|s| s.count == 10));
        assert_eq!(
            all.iter().map(|s| s.first).collect::<Vec<_>>(),
            vec![0, 2, 5, 7]
        );
    }

    /// The merged schedule of the workers is the one requested: every
    /// operation k of the global schedule (due at k / rate) is sent by
    /// exactly one worker, at exactly that time.
    #[test]
    fn interleaved_rate_shares_rebuild_the_global_schedule() {
        let rate = 3000.0;
        let shares = split(64, Some(rate), 3).unwrap();
        let mut due: Vec<f64> = shares
            .iter()
            .flat_map(|s| {
                let r = s.rate_per_s.unwrap();
                (0..1000).map(move |j| s.phase_s + f64::from(j) / r)
            })
            .collect();
        due.sort_by(f64::total_cmp);
        for (k, t) in due.iter().enumerate() {
            assert!((t - k as f64 / rate).abs() < 1e-9, "operation {k} at {t}");
        }
        let total: f64 = shares.iter().map(|s| s.rate_per_s.unwrap()).sum();
        assert!((total - rate).abs() < 1e-9);
    }
}
