//! Route registration that remembers what it registered.
//!
//! axum's `Router` cannot list its routes, and the access-matrix test must
//! take every route from the router itself, so that a route added without
//! an entry in the test's table fails the test. These wrappers build the
//! same axum router and keep a table of `(method, path)` beside it; they
//! have the names of `axum::routing`'s functions so route lists read the
//! same.

use crate::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;

/// One registered route: its method and its path pattern (`{id}` for
/// parameters), with any nesting prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteInfo {
    pub method: Method,
    pub path: String,
}

/// A method router and the methods it answers.
pub struct Methods {
    router: MethodRouter<AppState>,
    methods: Vec<Method>,
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            pub fn $name<H, T>(handler: H) -> Methods
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Methods {
                    router: axum::routing::$name(handler),
                    methods: vec![Method::$method],
                }
            }
        )*

        impl Methods {
            $(
                pub fn $name<H, T>(mut self, handler: H) -> Self
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.methods.push(Method::$method);
                    self
                }
            )*
        }
    };
}

method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

/// An axum router with the table of what it routes.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<RouteInfo>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    pub fn route(mut self, path: &str, m: Methods) -> Self {
        for method in m.methods {
            // axum answers HEAD with the GET handler.
            self.table.push(RouteInfo {
                method,
                path: path.to_owned(),
            });
        }
        self.router = self.router.route(path, m.router);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }

    pub fn nest(mut self, prefix: &str, other: Routes) -> Self {
        self.table
            .extend(other.table.into_iter().map(|r| RouteInfo {
                method: r.method,
                path: format!("{prefix}{}", r.path),
            }));
        self.router = self.router.nest(prefix, other.router);
        self
    }

    pub fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.fallback(handler);
        self
    }

    /// Applies `f` to the axum router (layers), keeping the table.
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteInfo>) {
        (self.router, self.table)
    }
}
