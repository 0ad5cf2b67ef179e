//! User input applied to [`ClientState`]: commands become frames (or local
//! errors), and edits of the input line become typing start/stop frames.

use super::{CallPhase, ClientState, Outcome, TYPING_REFRESH};
use crate::client::command::{help_lines, Command};
use crate::client::event::{Conv, Event};
use crate::protocol::ClientMsg;
use std::time::Instant;

impl ClientState {
    /// Turn a user command into frames and/or local events. `/quit`, `/sleep`
    /// and `/wait` belong to the front end and yield nothing here.
    pub fn command(&mut self, cmd: Command, now: Instant) -> Outcome {
        let err = |m: &str| Outcome::event(Event::local_error(m));
        match cmd {
            Command::Help => Outcome {
                frames: Vec::new(),
                events: help_lines()
                    .into_iter()
                    .map(|text| Event::Info { text })
                    .collect(),
            },
            Command::Quit | Command::Sleep(_) | Command::Wait { .. } | Command::File(_) => {
                Outcome::default()
            }
            Command::Users => Outcome::frame(ClientMsg::ListUsers {}),
            Command::Rooms => Outcome::frame(ClientMsg::ListRooms {}),
            Command::Join(room) => {
                self.room_ops += 1;
                Outcome::frame(ClientMsg::Join { room })
            }
            Command::Create(room) => {
                self.room_ops += 1;
                Outcome::frame(ClientMsg::CreateRoom { room })
            }
            Command::Leave(room) => match room.or_else(|| self.current.clone()) {
                Some(room) if self.rooms.contains_key(&room) => {
                    self.room_ops += 1;
                    Outcome::frame(ClientMsg::Leave { room })
                }
                Some(room) => err(&format!("you are not in #{room}")),
                None => err("you are not in any room"),
            },
            Command::Switch(room) => {
                if self.rooms.contains_key(&room) {
                    self.current = Some(room.clone());
                    self.query = None;
                    self.target_seen();
                    Outcome::event(Event::Switched { room })
                } else {
                    err(&format!("you are not in #{room}; /join {room} first"))
                }
            }
            Command::Win(n) => match self.rooms.keys().nth(n - 1).cloned() {
                Some(room) => self.command(Command::Switch(room), now),
                None => err(&format!(
                    "you are in {} room(s); /win 1 to /win {} pick one",
                    self.rooms.len(),
                    self.rooms.len().max(1)
                )),
            },
            Command::Query(Some(name)) => {
                self.query = Some(name.clone());
                self.target_seen();
                Outcome::event(Event::Info {
                    text: format!(
                        "* now talking privately with {}; /query alone goes back to the room",
                        crate::client::text::clean(&name)
                    ),
                })
            }
            Command::Query(None) => match (self.query.take(), self.current.clone()) {
                (Some(_), Some(room)) => {
                    self.target_seen();
                    Outcome::event(Event::Switched { room })
                }
                (Some(_), None) => Outcome::default(),
                (None, _) => err("usage: /query NAME (no private conversation is current)"),
            },
            Command::Next => {
                let next = self.activity.keys().next().cloned();
                match next {
                    Some(Conv::Room(r)) => self.command(Command::Switch(r), now),
                    Some(Conv::Peer(p)) => self.command(Command::Query(Some(p)), now),
                    None => err("no other room or private chat has unseen messages"),
                }
            }
            Command::Me(action) => self.command(Command::Say(format!("/me {action}")), now),
            Command::Names(room) => match room.or_else(|| self.current.clone()) {
                Some(r) => match self.rooms.get(&r) {
                    Some(members) => {
                        let names: Vec<String> = members
                            .iter()
                            .map(|m| crate::client::text::clean(m))
                            .collect();
                        Outcome::event(Event::Info {
                            text: format!(
                                "* #{} ({}): {}",
                                crate::client::text::clean(&r),
                                names.len(),
                                names.join(", ")
                            ),
                        })
                    }
                    None => err(&format!("you are not in #{r}; /rooms lists them all")),
                },
                None => err("you are not in any room"),
            },
            Command::Whois(name) => {
                self.whois = Some(name);
                Outcome::frame(ClientMsg::ListUsers {})
            }
            Command::Say(text) => match self.target() {
                Some(conv) => Outcome::frame(self.outgoing_msg(conv, text)),
                None => err("you are not in any room; /join ROOM first"),
            },
            Command::SayIn { room, text } => {
                if self.rooms.contains_key(&room) {
                    Outcome::frame(self.outgoing_msg(Conv::Room(room), text))
                } else {
                    err(&format!("you are not in #{room}; /join {room} first"))
                }
            }
            Command::Msg { to, text } => Outcome::frame(self.outgoing_msg(Conv::Peer(to), text)),
            Command::Status(status) => {
                self.rel.status = status;
                Outcome::frame(ClientMsg::SetStatus {
                    status,
                    message: None,
                })
            }
            Command::Away(message) => {
                let status = match message {
                    Some(_) => crate::protocol::Status::Away,
                    None => crate::protocol::Status::Online,
                };
                self.rel.status = status;
                Outcome::frame(ClientMsg::SetStatus { status, message })
            }
            Command::Topic(text) => {
                let Some(room) = self.current.clone() else {
                    return err("you are not in any room; /join one first");
                };
                match text {
                    Some(topic) => Outcome::frame(ClientMsg::SetTopic { room, topic }),
                    None => Outcome::event(Event::Info {
                        text: match self.topics.get(&room) {
                            Some((topic, by)) => format!("topic of #{room}: {topic} (set by {by})"),
                            None => format!("#{room} has no topic; /topic TEXT sets one"),
                        },
                    }),
                }
            }
            Command::Search { text, scope } => Outcome::frame(self.search_request(text, scope)),
            Command::History { target, limit } => {
                match target.or_else(|| self.current.clone().map(Conv::Room)) {
                    Some(conv) => Outcome::frame(self.history_request(conv, limit)),
                    None => err("you are not in any room; /history @NAME shows a private chat"),
                }
            }
            // The front end asks the network thread.
            Command::Reconnect => Outcome::default(),
            // The terminal keeps receipts and owns the screen; scripts print every receipt.
            Command::Receipts(_) | Command::Clear => Outcome::event(Event::Info {
                text: "scripts print every receipt as it comes, and have no screen to clear".into(),
            }),
            Command::Passwd(Some(new)) => {
                Outcome::frame(self.change_password(crate::protocol::Secret(new)))
            }
            Command::Passwd(None) => {
                err("usage: /passwd NEW (a terminal asks for it without echo)")
            }
            Command::Call { to, media } => Outcome::frame(ClientMsg::Call { to, media }),
            Command::AcceptCall | Command::DeclineCall => match &self.call {
                Some(c) if c.phase == CallPhase::Incoming => Outcome::frame(match cmd {
                    Command::AcceptCall => ClientMsg::CallAccept { call: c.id },
                    _ => ClientMsg::CallDecline { call: c.id },
                }),
                _ => err("no call is ringing for you"),
            },
            Command::Hangup => match &self.call {
                Some(c) => Outcome::frame(ClientMsg::Hangup { call: c.id }),
                None => err("you are not in a call"),
            },
            Command::Typing(active) => match self.current.clone() {
                Some(room) => {
                    let conv = Conv::Room(room.clone());
                    self.my_typing = active.then_some((conv, now));
                    Outcome::frame(ClientMsg::Typing {
                        room: Some(room),
                        to: None,
                        active,
                    })
                }
                None => err("you are not in any room"),
            },
        }
    }

    /// The input line changed: maybe send typing start (at most every
    /// [`TYPING_REFRESH`] while the line is chat text) or stop (the line was
    /// emptied or became a command).
    pub fn edited(&mut self, line: &str, now: Instant) -> Vec<ClientMsg> {
        let chatty = !line.trim().is_empty() && (!line.starts_with('/') || line.starts_with("//"));
        let Some(conv) = self.target().filter(|_| chatty) else {
            return self.stop_typing().into_iter().collect();
        };
        let mut out = Vec::new();
        match &self.my_typing {
            Some((c, at)) if *c == conv && now.saturating_duration_since(*at) < TYPING_REFRESH => {
                return out
            }
            Some((c, _)) if *c != conv => out.extend(self.stop_typing()),
            _ => {}
        }
        out.push(match &conv {
            Conv::Room(r) => ClientMsg::Typing {
                room: Some(r.clone()),
                to: None,
                active: true,
            },
            Conv::Peer(p) => ClientMsg::Typing {
                room: None,
                to: Some(p.clone()),
                active: true,
            },
        });
        self.my_typing = Some((conv, now));
        out
    }

    /// A line was submitted. A message to the conversation we are typing in
    /// clears typing on the server by itself; anything else sends a stop.
    pub fn submitted(&mut self, cmd: Option<&Command>) -> Option<ClientMsg> {
        let target = self.target();
        let said_here = matches!(
            (cmd, &self.my_typing, &target),
            (Some(Command::Say(_)), Some((t, _)), Some(cur)) if t == cur
        );
        if said_here {
            self.my_typing = None;
            None
        } else {
            self.stop_typing()
        }
    }

    fn stop_typing(&mut self) -> Option<ClientMsg> {
        let (conv, _) = self.my_typing.take()?;
        Some(match conv {
            Conv::Room(r) => ClientMsg::Typing {
                room: Some(r),
                to: None,
                active: false,
            },
            Conv::Peer(p) => ClientMsg::Typing {
                room: None,
                to: Some(p),
                active: false,
            },
        })
    }
}
