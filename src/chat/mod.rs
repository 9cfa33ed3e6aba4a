//! Who delivers a room's group chat. Messages are always written, checked and kept by
//! meetstage (`features::live::chat`): who may chat, restrictions, bans, blocked links, rate
//! limits and the history are the same whatever delivers them. `Embedded` delivers them over
//! the live-room socket; `Ivs` relays each one, after it commits, to an Amazon IVS Chat room
//! per event, from which pages receive it (IVS carries the fan-out to very large rooms).
//! Direct messages always stay on the live-room socket.

pub mod ivs;

/// The chat provider of this instance.
#[derive(Clone)]
pub enum ChatProvider {
    Embedded,
    Ivs(ivs::IvsChat),
}

impl ChatProvider {
    /// Whether group chat reaches pages through the live-room socket.
    pub fn on_room_socket(&self) -> bool {
        matches!(self, ChatProvider::Embedded)
    }

    pub fn ivs(&self) -> Option<&ivs::IvsChat> {
        match self {
            ChatProvider::Ivs(c) => Some(c),
            ChatProvider::Embedded => None,
        }
    }
}
