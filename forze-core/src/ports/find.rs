//! `Find<D>`: a query under construction, from [`DocumentQuery::find`].

use std::fmt;
use std::future::Future;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::codec::row_to_read;
use crate::error::Result;
use crate::model::Document;
use crate::ports::DocumentQuery;
use crate::query::{
    Binding, Cursor, CursorPage, Filter, IntoFilter, IntoSort, Page, Schema, Select, Sort,
    page_size,
};

/// The page size when none is given.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// A query as a client sends it, e.g. the JSON body of a list endpoint: every key optional,
/// unknown keys rejected.
///
/// ```json
/// {"filter": {"field": "price", "op": "lt", "value": 100},
///  "sort": [{"field": "price", "order": "desc"}],
///  "limit": 20,
///  "cursor": "eyJxIjoi…"}
/// ```
///
/// A handler adds it to a query with [`Find::apply`] and passes the cursor to
/// [`Find::cursor`]; the page's `next` goes back to the client as the next request's `cursor`.
/// The filter and sort are data, checked against the document when the query runs (a mistake
/// is a [`Validation`](crate::ErrorKind::Validation) error naming it).
///
/// ```
/// # use forze_core::{Document, DepsRegistry, ExecutionRuntime, FindRequest, LifecyclePlan};
/// # use forze_core::prelude::*;
/// # use forze_core::memory::MemoryDepsModule;
/// # #[derive(Document)]
/// # #[document_spec(name = "products")]
/// # pub struct Product { pub name: String, pub price: i32 }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let runtime = ExecutionRuntime::new(
/// #     DepsRegistry::from_modules([MemoryDepsModule::new().document("products").boxed()]).freeze()?,
/// #     LifecyclePlan::new().freeze()?,
/// # );
/// # let ctx = runtime.context();
/// # let command = ctx.document().command(&PRODUCT_SPEC)?;
/// # for price in 1..=5 { command.create(ProductCreate { name: format!("p{price}"), price }).await?; }
/// let products = ctx.document().query(&PRODUCT_SPEC)?;
/// let mut request: FindRequest = serde_json::from_str(
///     r#"{"filter": {"field": "price", "op": "ge", "value": 2},
///         "sort": [{"field": "price", "order": "desc"}], "limit": 3}"#,
/// ).expect("a valid request");
/// let mut prices = Vec::new();
/// loop {
///     let page = products.find().apply(&request).cursor(request.cursor.as_ref()).await?;
///     prices.extend(page.items.iter().map(|p| p.price));
///     match page.next {
///         Some(next) => request.cursor = Some(next), // the client sends it back
///         None => break,
///     }
/// }
/// assert_eq!(prices, [5, 4, 3, 2]);
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindRequest {
    /// Keep documents that match this (`None`: every document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Order by these keys, in order (then by `id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<Sort>,
    /// The page size (default [`DEFAULT_PAGE_SIZE`], at most
    /// [`MAX_PAGE_SIZE`](crate::query::MAX_PAGE_SIZE)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Where the page starts: the `next` cursor of the page before (`None`: the first page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
}

/// A query of documents `D`, from [`DocumentQuery::find`]: add filters and sort keys, then run
/// it with one of [`all`](Self::all), [`page`](Self::page), [`cursor`](Self::cursor),
/// [`count`](Self::count), [`exists`](Self::exists), [`first`](Self::first) or
/// [`stream`](Self::stream).
///
/// Queries always read the store (inside a transaction, the transaction's view); the cache
/// serves [`get`](DocumentQuery::get) and [`get_many`](DocumentQuery::get_many).
///
/// ```
/// # use forze_core::{Document, DepsRegistry, ExecutionRuntime, LifecyclePlan};
/// # use forze_core::prelude::*;
/// # use forze_core::memory::MemoryDepsModule;
/// # #[derive(Document)]
/// # #[document_spec(name = "products")]
/// # pub struct Product { pub name: String, pub price: i32 }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let runtime = ExecutionRuntime::new(
/// #     DepsRegistry::from_modules([MemoryDepsModule::new().document("products").boxed()]).freeze()?,
/// #     LifecyclePlan::new().freeze()?,
/// # );
/// # let ctx = runtime.context();
/// # let command = ctx.document().command(&PRODUCT_SPEC)?;
/// # for price in 1..=7 { command.create(ProductCreate { name: format!("p{price}"), price }).await?; }
/// let products = ctx.document().query(&PRODUCT_SPEC)?;
/// let mut after = None;
/// let mut seen = Vec::new();
/// loop {
///     let page = products
///         .find()
///         .filter(Product::PRICE.ge(2))
///         .sort(Product::PRICE.desc())
///         .limit(4)
///         .cursor(after.as_ref())
///         .await?;
///     seen.extend(page.items.iter().map(|p| p.price));
///     match page.next {
///         Some(next) => after = Some(next),
///         None => break,
///     }
/// }
/// assert_eq!(seen, [7, 6, 5, 4, 3, 2]);
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "a query does nothing until it is run"]
pub struct Find<'q, D: Document> {
    query: &'q DocumentQuery<D>,
    filter: Option<Filter>,
    sort: Vec<Sort>,
    limit: Option<u64>,
    offset: u64,
    total: bool,
}

impl<D: Document> fmt::Debug for Find<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Find")
            .field("document", &self.query.lane.name)
            .field("filter", &self.filter)
            .field("sort", &self.sort)
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .field("total", &self.total)
            .finish()
    }
}

// The explicit `impl Future + Send` is part of the API: it promises `Send` to callers.
#[allow(clippy::manual_async_fn)]
impl<'q, D: Document> Find<'q, D> {
    pub(crate) fn new(query: &'q DocumentQuery<D>) -> Self {
        Find {
            query,
            filter: None,
            sort: Vec::new(),
            limit: None,
            offset: 0,
            total: false,
        }
    }

    /// Keep documents that match `filter` (a typed [`Condition`](crate::query::Condition) or a
    /// data [`Filter`]); several calls must all hold.
    pub fn filter(mut self, filter: impl IntoFilter<D>) -> Self {
        let filter = filter.into_filter();
        self.filter = Some(match self.filter.take() {
            None => filter,
            Some(before) => before.and(filter),
        });
        self
    }

    /// Order by `key` (typed `Product::PRICE.desc()` or a data [`Sort`]), after the keys given
    /// before. Every order ends with `id` ascending (the default order), so it is total.
    pub fn sort(mut self, key: impl IntoSort<D>) -> Self {
        self.sort.push(key.into_sort());
        self
    }

    /// Sort by every key of `keys`, in order (for sort keys taken from a request).
    pub fn sort_by(mut self, keys: impl IntoIterator<Item = Sort>) -> Self {
        self.sort.extend(keys);
        self
    }

    /// At most `limit` documents (1 ..= [`MAX_PAGE_SIZE`](crate::query::MAX_PAGE_SIZE)); for
    /// [`page`](Self::page) and [`cursor`](Self::cursor) the page size (default
    /// [`DEFAULT_PAGE_SIZE`]).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip `offset` documents (offset pages; a cursor page starts at its cursor instead).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Add what a client asked for: its filter (with the filters given before, all must hold),
    /// its sort keys (after the keys given before) and its limit. The cursor stays in the
    /// request: pass `request.cursor.as_ref()` to [`cursor`](Self::cursor).
    ///
    /// The server's own conditions go before or after, as typed filters: a client cannot widen
    /// them, since every filter must hold.
    pub fn apply(mut self, request: &FindRequest) -> Self {
        if let Some(filter) = &request.filter {
            self = self.filter(filter.clone());
        }
        self.sort.extend(request.sort.iter().cloned());
        if let Some(limit) = request.limit {
            self.limit = Some(limit);
        }
        self
    }

    /// Make [`page`](Self::page) count every matching document too.
    pub fn with_total(mut self) -> Self {
        self.total = true;
        self
    }

    fn schema(&self) -> Schema<'q> {
        Schema {
            document: &self.query.lane.name,
            fields: D::FIELDS,
        }
    }

    fn select(&self, default_limit: Option<u64>) -> Result<Select> {
        let schema = self.schema();
        let filter = self.filter.as_ref().map(|f| schema.filter(f)).transpose()?;
        let sort = schema.sort(&self.sort)?;
        let limit = match self.limit.or(default_limit) {
            Some(limit) => Some(page_size(&schema, limit)?),
            None => None,
        };
        Ok(Select {
            filter,
            sort,
            after: None,
            offset: self.offset,
            limit,
        })
    }

    async fn run(&self, select: &Select) -> Result<Vec<D::Read>> {
        let lane = &self.query.lane;
        let rows = lane
            .store
            .find(&self.query.scope.store_cx(), select)
            .await?;
        rows.into_iter()
            .map(|row| row_to_read::<D>(&lane.name, row))
            .collect()
    }

    /// Every matching document (at most [`limit`](Self::limit)), in order.
    ///
    /// # Errors
    ///
    /// `Validation` for a filter or sort that does not fit the document, or a bad limit; the
    /// store's errors.
    pub fn all(self) -> impl Future<Output = Result<Vec<D::Read>>> + Send + 'q {
        async move {
            let select = self.select(None)?;
            self.run(&select).await
        }
    }

    /// The first matching document in order, if any.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn first(mut self) -> impl Future<Output = Result<Option<D::Read>>> + Send + 'q {
        async move {
            self.limit = Some(1);
            let select = self.select(None)?;
            Ok(self.run(&select).await?.into_iter().next())
        }
    }

    /// One offset page: [`limit`](Self::limit) documents (default [`DEFAULT_PAGE_SIZE`]) after
    /// skipping [`offset`](Self::offset), and the total if [`with_total`](Self::with_total)
    /// was set. Deep offsets cost what they skip; [`cursor`](Self::cursor) pages do not.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn page(self) -> impl Future<Output = Result<Page<D::Read>>> + Send + 'q {
        async move {
            let select = self.select(Some(DEFAULT_PAGE_SIZE))?;
            let items = self.run(&select).await?;
            let total = if self.total {
                let cx = self.query.scope.store_cx();
                Some(
                    self.query
                        .lane
                        .store
                        .count(&cx, select.filter.as_ref())
                        .await?,
                )
            } else {
                None
            };
            Ok(Page { items, total })
        }
    }

    /// One keyset page: [`limit`](Self::limit) documents (default [`DEFAULT_PAGE_SIZE`]) after
    /// `after` (`None`: from the start), and the cursor of the next page. The cost of a page
    /// does not grow with its depth. A cursor continues only the query that issued it (same
    /// document, tenant, filter and sort).
    ///
    /// # Errors
    ///
    /// `Validation` for a cursor that was altered or belongs to another query, or with an
    /// [`offset`](Self::offset); as [`all`](Self::all).
    pub fn cursor(
        self,
        after: Option<&'q Cursor>,
    ) -> impl Future<Output = Result<CursorPage<D::Read>>> + Send + 'q {
        async move {
            let schema = self.schema();
            if self.offset != 0 {
                return Err(schema.invalid(
                    "a cursor page starts at its cursor: remove `offset` (or use `page`)",
                ));
            }
            let mut select = self.select(Some(DEFAULT_PAGE_SIZE))?;
            let size = select.limit.unwrap_or(DEFAULT_PAGE_SIZE);
            let key = &self.query.scope.cursor_key;
            let binding = Binding {
                schema,
                tenant: self.query.scope.tenant,
                filter: select.filter.as_ref(),
                sort: &select.sort,
            };
            let position = after.map(|c| binding.decode(key, c)).transpose()?;
            select.after = position;
            // one row more than the page tells whether a next page exists
            select.limit = Some(size + 1);
            let lane = &self.query.lane;
            let mut rows = lane
                .store
                .find(&self.query.scope.store_cx(), &select)
                .await?;
            let more = rows.len() as u64 > size;
            rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            let binding = Binding {
                schema,
                tenant: self.query.scope.tenant,
                filter: select.filter.as_ref(),
                sort: &select.sort,
            };
            let next = match rows.last() {
                Some(last) if more => {
                    Some(binding.encode(key, &crate::query::eval::sort_values(last, &select.sort)))
                }
                _ => None,
            };
            let items = rows
                .into_iter()
                .map(|row| row_to_read::<D>(&lane.name, row))
                .collect::<Result<_>>()?;
            Ok(CursorPage { items, next })
        }
    }

    /// How many documents match the filter (ignores sort, limit and offset).
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn count(self) -> impl Future<Output = Result<u64>> + Send + 'q {
        async move {
            let schema = self.schema();
            let filter = self.filter.as_ref().map(|f| schema.filter(f)).transpose()?;
            let cx = self.query.scope.store_cx();
            self.query.lane.store.count(&cx, filter.as_ref()).await
        }
    }

    /// Whether any document matches the filter (reads at most one row; ignores sort, limit and
    /// offset).
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn exists(mut self) -> impl Future<Output = Result<bool>> + Send + 'q {
        async move {
            self.limit = Some(1);
            self.offset = 0;
            self.sort.clear();
            let select = self.select(None)?;
            let cx = self.query.scope.store_cx();
            Ok(!self.query.lane.store.find(&cx, &select).await?.is_empty())
        }
    }

    /// Every matching document in order, in chunks of [`limit`](Self::limit) (default
    /// [`DEFAULT_PAGE_SIZE`]) read one keyset page at a time: memory stays at one chunk
    /// however many documents match. A chunk sees the store as of its own read.
    ///
    /// The query is checked when the stream is polled first: a mistake is its first item.
    ///
    /// ```
    /// # use forze_core::{Document, DepsRegistry, ExecutionRuntime, LifecyclePlan};
    /// # use forze_core::prelude::*;
    /// # use forze_core::memory::MemoryDepsModule;
    /// # #[derive(Document)]
    /// # #[document_spec(name = "products")]
    /// # pub struct Product { pub name: String, pub price: i32 }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let runtime = ExecutionRuntime::new(
    /// #     DepsRegistry::from_modules([MemoryDepsModule::new().document("products").boxed()]).freeze()?,
    /// #     LifecyclePlan::new().freeze()?,
    /// # );
    /// # let ctx = runtime.context();
    /// # let command = ctx.document().command(&PRODUCT_SPEC)?;
    /// # for price in 1..=5 { command.create(ProductCreate { name: format!("p{price}"), price }).await?; }
    /// use futures_util::TryStreamExt as _;
    ///
    /// let products = ctx.document().query(&PRODUCT_SPEC)?;
    /// let mut chunks = std::pin::pin!(products.find().sort(Product::PRICE.asc()).limit(2).stream());
    /// let mut sizes = Vec::new();
    /// while let Some(chunk) = chunks.try_next().await? {
    ///     sizes.push(chunk.len());
    /// }
    /// assert_eq!(sizes, [2, 2, 1]);
    /// # Ok::<(), forze_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<Vec<D::Read>>> + Send + 'q {
        struct State<'q, D: Document> {
            find: Find<'q, D>,
            select: Option<Select>,
            done: bool,
        }
        let state = State {
            find: self,
            select: None,
            done: false,
        };
        futures_util::stream::try_unfold(state, |mut state| async move {
            if state.done {
                return Ok(None);
            }
            let select = match state.select.take() {
                Some(select) => select,
                None => state.find.select(Some(DEFAULT_PAGE_SIZE))?,
            };
            let size = select.limit.unwrap_or(DEFAULT_PAGE_SIZE);
            let lane = &state.find.query.lane;
            let rows = lane
                .store
                .find(&state.find.query.scope.store_cx(), &select)
                .await?;
            if (rows.len() as u64) < size {
                state.done = true;
            }
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            let mut next = select;
            next.after = Some(crate::query::eval::sort_values(last, &next.sort));
            next.offset = 0;
            state.select = Some(next);
            let chunk = rows
                .into_iter()
                .map(|row| row_to_read::<D>(&lane.name, row))
                .collect::<Result<Vec<_>>>()?;
            Ok(Some((chunk, state)))
        })
    }
}
