//! Latency statistics: an exact percentile over sorted samples, and a
//! log-linear histogram that records millions of samples in O(1) each with a
//! bounded relative error, for the fan-out runs where keeping every sample
//! would cost hundreds of megabytes.

/// Nearest-rank percentile of already sorted `sorted` data: the smallest value
/// such that at least `p` percent of the samples are less than or equal to it.
/// `p` is clamped to 0..=100; 0 gives the minimum. Returns `None` when empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = rank_for(p, sorted.len() as u64);
    Some(sorted[(rank - 1) as usize])
}

/// 1-based nearest rank for percentile `p` of `n` (n > 0) samples.
fn rank_for(p: f64, n: u64) -> u64 {
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
    // Nearest rank: ceil(p/100 * n); computed in integers where possible so
    // that p=99 of 100 samples is exactly rank 99, not 99.00000000000001.
    let scaled = (p * 1_000_000.0).round() as u128; // p in millionths of a percent
    let num = scaled * n as u128;
    let den = 100u128 * 1_000_000;
    let rank = num.div_ceil(den) as u64;
    rank.clamp(1, n)
}

/// Sub-bucket bits: 2^7 = 128 linear sub-buckets per power of two, so a
/// recorded value is reported with a relative error below 1/128 (0.8 %).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for every `u64`.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) << SUB_BITS;

/// Log-linear histogram of `u64` values (nanoseconds in practice).
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

fn index_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = e - SUB_BITS;
    let top = (v >> shift) as usize; // in [SUB, 2*SUB)
    ((shift as usize + 1) << SUB_BITS) + (top - SUB as usize)
}

/// Highest value that lands in bucket `i`.
fn high_of(i: usize) -> u64 {
    if (i as u64) < SUB {
        return i as u64;
    }
    let shift = (i >> SUB_BITS) as u32 - 1;
    let top = (i as u64 & (SUB - 1)) + SUB;
    // ((top + 1) << shift) - 1 without overflowing at the very top.
    (top << shift).saturating_add((1u64 << shift) - 1)
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[index_of(v)] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v as u128;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    pub fn min(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum as f64 / self.total as f64)
    }

    /// Nearest-rank percentile, reported as the upper end of the bucket that
    /// holds the sample of that rank (never above the largest value recorded,
    /// never below the smallest), so it overstates by less than 0.8 %.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = rank_for(p, self.total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(high_of(i).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Add every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev_high = None;
        for i in 0..BUCKETS {
            let hi = high_of(i);
            if let Some(p) = prev_high {
                if p == u64::MAX {
                    break;
                }
                assert!(hi > p, "bucket {i}");
                assert_eq!(index_of(p + 1), i, "first value of bucket {i}");
            }
            assert_eq!(index_of(hi), i);
            prev_high = Some(hi);
        }
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }
}
