// Package web is the archive's web view: server-rendered HTML pages mounted beside the
// datagrepper API on the archive's one HTTP server ([Web.Routes]), and a live feed over
// WebSocket that speaks moksha's protocol, so the browser clients of fedmsg's websocket
// (busmon, moksha's live widgets) work against ackmsg-archive.
//
// Pages: /web/ searches (topic, user, package, time range; keyset paging with the API's
// cursor), /web/message?id= shows one message (its envelope pretty-printed, the signer the
// archive recorded, whether the signature verifies now with the configured verifier),
// /web/chart draws the messages per topic and hour as inline SVG rendered from the archive's
// counts table. /web/live and the WebSocket at / and /ws show messages as they are archived.
//
// Guarantees:
//   - Everything taken from a message is escaped by html/template: a hostile body cannot run
//     script or break the page. The pages' own script is static (embedded) and inserts text
//     with textContent only.
//   - The live feed shows a message only after its commit ([Feed.Writer] wraps the archive's
//     writer), so what the feed shows is in the archive. A slow WebSocket client loses
//     messages rather than slowing the archive: each client has a bounded queue (DropAfter);
//     when it is full the client is disconnected with status 1008 and a reason saying so.
//   - Who ACKed a message is shown from the ACKs the archive received and verified
//     (archive.AcksTable, with Config.Acks); without them the page says ACKs are not recorded
//     rather than guessing.
//
// Moksha's protocol: the client sends {"topic": "__topic_subscribe__", "body": TOPIC} (any
// number of times); the server sends each matching message as {"topic": TOPIC, "body":
// ENVELOPE}, where ENVELOPE is the fedmsg envelope as a JSON object (moksha's hub sends
// json.loads of the ZeroMQ body). A subscription matches as moksha's ZeroMQ hub does: its
// "*"s removed, by prefix ("*" is everything, "org.fedoraproject.*" a prefix).
package web
