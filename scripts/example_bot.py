#!/usr/bin/env python3
# example_bot.py HOST PORT NAME ROOM: the smallest useful chat bot, written
# from docs/PROTOCOL.md alone (Python 3.8+, standard library only). It logs in
# as NAME in ROOM, sends delivered and read receipts for every message it gets,
# answers "!echo TEXT" in a room with TEXT, and survives dropped connections:
# it comes back with hello.resume and re-sends what the server never
# acknowledged under the same cid, which the server recognises
# (ack.duplicate) instead of storing it twice. One line on stdout per event.
# scripts/example-bot-test.sh runs it (make test).
import json, random, socket, struct, sys, time

host, port, name, room = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.stdout.reconfigure(line_buffering=True)  # a test waits for our lines
pending = {}  # cid -> room_msg the server has not acknowledged yet
session, since = None, None  # token of the last welcome; highest message id seen


def send(sock, *frames):  # one write: delivered + read then make one receipts frame
    bodies = [json.dumps(f).encode() for f in frames]
    sock.sendall(b"".join(struct.pack(">I", len(b)) + b for b in bodies))


def frames(sock):  # the server's frames, one at a time, until it closes
    stream = sock.makefile("rb")
    while len(head := stream.read(4)) == 4:
        yield json.loads(stream.read(struct.unpack(">I", head)[0]))
    raise ConnectionError("the server closed the connection")


def run(sock):
    global session, since
    hello = {"type": "hello", "version": 1, "name": name, "room": room}
    if session:  # coming back: reclaim the name, rejoin, replay what we missed
        hello["resume"] = {"session": session, "rooms": [room], "since": since}
    send(sock, hello)
    for f in frames(sock):
        if f["type"] == "welcome":
            print(f"resumed since #{since}, resending {list(pending)}" if session else "connected")
            session = f["session"]
            since = f["last_id"] if since is None else since  # older ones are not ours
            send(sock, *pending.values())  # same cid: the server stores it at most once
        elif f["type"] == "message":
            print(f"got #{f['id']} from {f['from']}: {f['text']}")
            since = max(since, f["id"])
            where = {"room": f["room"]} if "room" in f else {"peer": f["from"]}
            send(sock, *[dict(type="receipt", kind=k, up_to=f["id"], **where)
                         for k in ("delivered", "read")])
            if "room" in f and f["from"] != name and f["text"].startswith("!echo "):
                cid = f"echo-{f['id']}"  # one cid per request, even if it is replayed
                pending[cid] = dict(type="room_msg", room=f["room"], text=f["text"][6:], cid=cid)
                send(sock, pending[cid])
        elif f["type"] == "ack":
            pending.pop(f["cid"], None)
            duplicate = " (duplicate)" if f.get("duplicate") else ""
            print(f"echoed {f['cid']} as #{f['id']}{duplicate}")
        elif f["type"] == "error":  # a refused hello (name_taken...) is retried later
            print(f"error {f['code']}: {f['message']}")
            if f["code"] != "store_failed":  # store_failed: send it again later
                pending.pop(f.get("cid"), None)


while True:
    try:
        with socket.create_connection((host, port)) as sock:
            run(sock)
    except (OSError, ValueError) as e:  # refused, reset, a frame cut short
        print(f"disconnected: {e}")
    time.sleep(random.uniform(1, 2))  # jitter, so that bots do not all come back at once
