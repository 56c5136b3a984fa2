//! The server's maps, and their hash keys: random where a peer may choose the keys, fixed
//! (so that a simulated run replays) where it cannot or where the runtime is simulated.

use engineio_session::Sid;

use super::SocketSender;

/// A map whose iteration (and drop) order depends only on its keys, not on a per-process
/// random hash key, for keys that are the server's own (request numbers), never a peer's
/// choice: which waiting request a closing session answers first is then the same in every
/// run of a seed under a simulated runtime.
pub(crate) type FixedMap<K, V> = std::collections::HashMap<
    K,
    V,
    std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
>;

/// The session map's hash key. A session id may come from the application's `generate_id`,
/// and so from what a peer sent: the key is random per server, as `HashMap`'s default, so
/// that nobody can choose colliding ids. On a simulated runtime (one that gives a
/// [`seed`](crate::Runtime::seed)) it is fixed, so that the order of `clients()` replays.
#[derive(Clone, Debug)]
pub(crate) enum SidHasher {
    Random(std::collections::hash_map::RandomState),
    Fixed,
}

impl std::hash::BuildHasher for SidHasher {
    type Hasher = std::collections::hash_map::DefaultHasher;

    fn build_hasher(&self) -> Self::Hasher {
        match self {
            SidHasher::Random(state) => state.build_hasher(),
            SidHasher::Fixed => Default::default(),
        }
    }
}

/// The open sessions by id: each one's sending handle, with its machine and its task's
/// inbox.
pub(crate) type SessionMap = std::collections::HashMap<Sid, SocketSender, SidHasher>;
