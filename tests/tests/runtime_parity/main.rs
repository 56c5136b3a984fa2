//! The in-process half of the conformance suite: the same tests, written once, run on both
//! runtime bindings (`engineio-tokio` and `engineio-smol`) through the runtime-generic
//! driver: our client against our server over real sockets, hostile WebSocket input,
//! shutdown, `allow_request`, tower layering. (The process half, with real peers, is in the
//! other test files, parameterised with `tests/src/runtime.rs`.)

mod advisories;
mod chat;
mod deflate;
mod events;
mod harness;
mod hostile;
mod lagging;
mod loopback;
mod peer_advisories;
mod sending;
mod server_api;
mod stuck_peers;
mod tls;

/// Declares, for each `async fn name<R: TestRuntime>()`, a `#[test]` per runtime:
/// `on_tokio::name` and `on_smol::name`.
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod on_tokio {
            $(#[test]
            fn $name() {
                crate::harness::run::<engineio_tokio::Tokio, _>(super::tests::$name::<engineio_tokio::Tokio>());
            })*
        }
        mod on_smol {
            $(#[test]
            fn $name() {
                crate::harness::run::<engineio_smol::Smol, _>(super::tests::$name::<engineio_smol::Smol>());
            })*
        }
    };
}

mod tests {
    pub(crate) use crate::advisories::*;
    pub(crate) use crate::chat::*;
    pub(crate) use crate::deflate::*;
    pub(crate) use crate::events::*;
    pub(crate) use crate::hostile::*;
    pub(crate) use crate::lagging::*;
    pub(crate) use crate::loopback::*;
    pub(crate) use crate::peer_advisories::*;
    pub(crate) use crate::sending::*;
    pub(crate) use crate::server_api::*;
    pub(crate) use crate::stuck_peers::*;
    pub(crate) use crate::tls::*;
}

on_both_runtimes!(
    chat_members_hear_each_other_in_order,
    every_mode_and_version,
    shutdown_closes_sessions_with_server_shutting_down,
    allow_request_refuses_before_a_session_exists,
    tower_layer_serves_engineio_beside_other_services,
    hostile_frames_close_the_session_cleanly,
    upgrade_refused_before_101_and_reset_mid_request,
    sticky_cookie_over_a_real_socket,
    client_keeps_its_http_connections,
    client_closes_its_polling_connections_after_upgrade,
    slow_request_headers_are_cut_off,
    a_full_send_buffer_makes_send_wait,
    the_client_speaks_tls_with_the_applications_roots,
    a_lagging_application_slows_its_client_down,
    send_returns_ids_and_flushed_resolves,
    try_send_answers_full_and_a_flush_makes_room,
    every_socket_event_reaches_the_application,
    an_abandoned_probe_is_reported_as_upgrade_aborted,
    hooks_see_refusals_and_edit_headers,
    clients_view_and_socket_state,
    send_batch_sends_in_order_and_waits_for_room,
    generate_id_chooses_session_ids,
    send_with_compress_false_skips_http_compression,
    a_refused_request_is_a_socket_error_and_a_connection_error,
    deflate_round_trips_every_size_with_our_client,
    deflate_on_the_wire_both_ways,
    deflate_first_message_inflates_on_a_fresh_context,
    deflate_bombs_and_bad_data_close_the_websocket,
    deflate_is_declined_when_off_or_unhonourable,
    deflate_with_the_reference_server,
    deflate_with_the_reference_client,
    deflate_our_client_honours_compress_false,
    deflate_with_python_engineio,
    deflate_honours_a_smaller_server_window,
    advisory_cve_2020_36048_a_huge_polling_body_is_refused_unread,
    advisory_cve_2022_21676_an_invalid_websocket_frame_closes_cleanly,
    advisory_cve_2022_41940_a_reset_around_an_upgrade_is_survived,
    advisory_cve_2023_31125_upgrades_for_other_transports_are_refused,
    advisory_ws_cve_2024_37890_too_many_headers_are_refused,
    advisory_ws_cve_2021_32640_a_long_subprotocol_header_costs_nothing,
    advisory_python_engineio_cve_2019_13611_a_websocket_from_another_origin_is_refused,
    advisory_python_engineio_cve_2026_48802_a_flood_of_pongs_costs_nothing,
    advisory_engineioxide_malformed_v3_payloads_are_refused_at_once,
    advisory_engineioxide_v3_text_and_binary_stay_apart_on_a_parked_get,
    advisory_engineioxide_every_get_during_an_upgrade_gets_a_noop,
    advisory_engineioxide_a_websocket_closed_mid_upgrade_leaves_polling_working,
    a_websocket_peer_that_never_reads_is_ended_by_the_heartbeat,
    a_polling_get_never_collected_is_bounded_and_ended,
    a_stalled_post_body_is_ended_by_the_heartbeat,
    thousands_of_abandoned_handshakes_are_reaped,
);
