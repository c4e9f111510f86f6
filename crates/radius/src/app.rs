//! The RADIUS server over the application: clients from
//! `service::radius::served_clients` (reloaded when they change), each
//! Access-Request decided by `service::radius::access`.

use crate::{Client, Handler, Reply, ReplyFuture, Request};
use gatehouse_app::AppState;
use gatehouse_app::model::RadiusClient;
use gatehouse_app::service::radius::{self, Access, Outcome, ServedClient};
use secrecy::ExposeSecret;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the list of clients is checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

struct Loaded {
    version: (i64, i64),
    /// Longest prefix first.
    clients: Vec<(RadiusClient, Arc<Client>)>,
}

/// The application as the RADIUS server's [`Handler`].
pub struct AppHandler {
    st: AppState,
    loaded: RwLock<Loaded>,
}

impl AppHandler {
    /// Loads the clients; [`AppHandler::reload`] keeps them current.
    pub async fn new(st: AppState) -> gatehouse_app::Result<Arc<Self>> {
        let h = Arc::new(Self {
            st,
            loaded: RwLock::new(Loaded {
                version: (-1, -1),
                clients: Vec::new(),
            }),
        });
        h.reload().await?;
        Ok(h)
    }

    /// Reloads the clients if they changed.
    pub async fn reload(&self) -> gatehouse_app::Result<()> {
        let version = radius::clients_version(&self.st).await?;
        if self.loaded.read().expect("RADIUS clients").version == version {
            return Ok(());
        }
        let (version, served) = radius::served_clients(&self.st).await?;
        let mut clients: Vec<_> = served
            .into_iter()
            .map(|s| (s.client.clone(), Arc::new(client_of(s))))
            .collect();
        clients.sort_by_key(|(c, _)| std::cmp::Reverse(c.address.prefix_len()));
        tracing::info!(clients = clients.len(), "RADIUS clients loaded");
        *self.loaded.write().expect("RADIUS clients") = Loaded { version, clients };
        Ok(())
    }

    /// Reloads every [`RELOAD_EVERY`] until the handler is dropped.
    pub fn keep_current(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                let Some(h) = weak.upgrade() else { return };
                if let Err(e) = h.reload().await {
                    tracing::warn!(error = %e, "reloading the RADIUS clients");
                }
            }
        });
    }

    fn row(&self, id: i64) -> Option<RadiusClient> {
        self.loaded
            .read()
            .expect("RADIUS clients")
            .clients
            .iter()
            .find(|(c, _)| c.id == id)
            .map(|(c, _)| c.clone())
    }
}

fn client_of(s: ServedClient) -> Client {
    let c = &s.client;
    Client {
        id: c.id,
        name: c.name.to_string(),
        secret: secrecy::SecretSlice::from(s.secret),
        require_message_authenticator: c.require_message_authenticator,
        timeout: Duration::from_secs(c.timeout_secs.max(1) as u64),
        class: c.class.clone().map(String::into_bytes),
        filter_id: c.filter_id.clone(),
    }
}

impl Handler for AppHandler {
    fn client(&self, source: IpAddr) -> Option<Arc<Client>> {
        self.loaded
            .read()
            .expect("RADIUS clients")
            .clients
            .iter()
            .find(|(c, _)| c.address.contains(source))
            .map(|(_, client)| client.clone())
    }

    fn access(&self, client: Arc<Client>, request: Request) -> ReplyFuture {
        let st = self.st.clone();
        let row = self.row(client.id);
        Box::pin(async move {
            let Some(row) = row else {
                return Reply::Reject {
                    message: "This client is no longer registered.".into(),
                };
            };
            let access = Access {
                username: request.user_name.clone(),
                password: request
                    .password
                    .as_ref()
                    .map(|p| p.expose_secret().to_owned()),
                state: request.state.clone(),
                source: request.source.ip(),
                nas_ip: request.nas_ip_address,
                calling_station_id: request.calling_station_id.clone(),
            };
            match radius::access(&st, &row, access).await {
                Ok(Outcome::Accept { message }) => Reply::Accept { message },
                Ok(Outcome::Reject { message }) => Reply::Reject { message },
                Ok(Outcome::Challenge { state, message }) => Reply::Challenge { state, message },
                Err(e) => {
                    // An internal error's message logs its cause under the
                    // reference it names (one line); other errors are logged
                    // here and stay generic for the NAS.
                    let message = match e {
                        gatehouse_app::AppError::Internal(_) => e.message(),
                        _ => {
                            tracing::error!(error = %e, client = %row.name, "a RADIUS request failed");
                            gatehouse_app::error::INTERNAL.to_owned()
                        }
                    };
                    Reply::Reject { message }
                }
            }
        })
    }
}
