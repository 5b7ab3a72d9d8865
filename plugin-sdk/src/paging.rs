//! Reading every posted line of an account, page by page. The host returns lines in pages and
//! a `next` cursor; [`Lines`] follows the cursor so a step can write a plain `for` loop, and it
//! bounds the loop so a faulty cursor cannot spin forever.

use crate::ledger::{Ledger, LineQuery, PostedLine, QueryError};

/// The most pages one [`Lines`] iterator reads. At the default page size that is five million
/// lines of one account, far beyond one period's postings; reaching it means a runaway loop.
pub const LINE_PAGES_MAX: u32 = 10_000;

/// An iterator over every line a [`LineQuery`] matches, across pages. Created by
/// [`all_lines`](trait.Ledger.html#method.all_lines) on a `&dyn Ledger`. Yields `Err` once and
/// then ends when a query is refused, when the cursor does not advance, or after
/// [`LINE_PAGES_MAX`] pages.
pub struct Lines<'ledger> {
    ledger: &'ledger dyn Ledger,
    query: LineQuery,
    page: std::vec::IntoIter<PostedLine>,
    pages_read: u32,
    finished: bool,
}

impl<'ledger> Lines<'ledger> {
    /// Starts reading at `query.after` (the beginning when `None`).
    pub fn new(ledger: &'ledger dyn Ledger, query: LineQuery) -> Self {
        Self {
            ledger,
            query,
            page: Vec::new().into_iter(),
            pages_read: 0,
            finished: false,
        }
    }

    /// Reads the next page into `self.page` and advances the cursor.
    fn read_page(&mut self) -> Result<(), QueryError> {
        if self.pages_read >= LINE_PAGES_MAX {
            return Err(QueryError::new(format!(
                "stopped reading lines of account {} after {LINE_PAGES_MAX} pages: narrow the \
                 period range or raise the page size",
                self.query.account
            )));
        }
        self.pages_read += 1;
        let page = self.ledger.lines(&self.query)?;
        match page.next {
            Some(next) => {
                if self.query.after.is_some_and(|after| next <= after) {
                    return Err(QueryError::new(format!(
                        "the ledger returned cursor {next} after cursor {} for account {}: a \
                         cursor must increase",
                        self.query.after.map_or(0, |after| after.get()),
                        self.query.account
                    )));
                }
                self.query.after = Some(next);
            }
            None => self.finished = true,
        }
        self.page = page.lines.into_iter();
        Ok(())
    }
}

impl Iterator for Lines<'_> {
    type Item = Result<PostedLine, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(line) = self.page.next() {
                return Some(Ok(line));
            }
            if self.finished {
                return None;
            }
            if let Err(error) = self.read_page() {
                self.finished = true;
                return Some(Err(error));
            }
        }
    }
}

impl std::iter::FusedIterator for Lines<'_> {}
