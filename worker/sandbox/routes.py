"""Every `/1/` route of the sandbox: `ROUTES`, one (path below `/1`, method, handler) a row.

`server.Sandbox` hands this list to `app.SandboxApp`. A handler takes the request's
`app.Context` and the path's arguments and returns JSON-able data or a Werkzeug `Response`; it
raises `store.SandboxError` (or a subclass) for an error answer. The handlers live in
`board_routes` (members, boards, lists, labels), `card_routes` (cards, comments, attachments,
checklists) and `webhook_routes`.
"""

from __future__ import annotations

from worker.sandbox import board_routes, card_routes, webhook_routes
from worker.sandbox.app import Handler

ROUTES: list[tuple[str, str, Handler]] = [
    ("/members/<member_id>", "GET", board_routes.get_member),
    ("/boards/<board_id>/members", "GET", board_routes.board_members),
    ("/boards/<board_id>", "GET", board_routes.get_board),
    ("/boards/<board_id>/lists", "GET", board_routes.board_lists),
    ("/boards/<board_id>/labels", "GET", board_routes.board_labels),
    ("/boards/<board_id>/labels", "POST", board_routes.create_board_label),
    ("/labels", "POST", board_routes.create_label),
    ("/labels/<label_id>", "GET", board_routes.get_label),
    ("/boards/<board_id>/labels/<label_id>", "GET", board_routes.get_board_label),
    ("/boards/<board_id>/cards/<which>", "GET", board_routes.board_cards),
    ("/boards/<board_id>/cards", "GET", board_routes.board_cards),
    ("/boards/<board_id>/checklists", "GET", board_routes.board_checklists),
    ("/boards/<board_id>/actions", "GET", board_routes.board_actions),
    ("/lists/<list_id>", "GET", board_routes.get_list),
    ("/lists/<list_id>/cards", "GET", board_routes.list_cards),
    ("/lists", "POST", board_routes.create_list),
    ("/lists/<list_id>/closed", "PUT", board_routes.close_list),
    ("/cards", "POST", card_routes.create_card),
    ("/cards/<card_id>", "GET", card_routes.get_card),
    ("/cards/<card_id>", "PUT", card_routes.update_card),
    ("/cards/<card_id>/<field>", "PUT", card_routes.update_card_field),
    ("/cards/<card_id>", "DELETE", card_routes.delete_card),
    ("/cards/<card_id>/idLabels", "POST", card_routes.add_card_label),
    ("/cards/<card_id>/idLabels/<label_id>", "DELETE", card_routes.remove_card_label),
    ("/cards/<card_id>/labels", "POST", card_routes.create_card_label),
    ("/cards/<card_id>/members", "POST", card_routes.add_card_member),
    ("/cards/<card_id>/idMembers", "POST", card_routes.add_card_member),
    ("/cards/<card_id>/idMembers/<member_id>", "DELETE", card_routes.remove_card_member),
    ("/cards/<card_id>/members", "GET", card_routes.card_members),
    ("/cards/<card_id>/actions", "GET", card_routes.card_actions),
    ("/cards/<card_id>/actions/comments", "POST", card_routes.add_comment),
    ("/cards/<card_id>/actions/<action_id>/comments", "PUT", card_routes.edit_comment),
    ("/actions/<action_id>", "PUT", card_routes.edit_comment),
    ("/cards/<card_id>/actions/<action_id>/comments", "DELETE", card_routes.delete_comment),
    ("/actions/<action_id>", "DELETE", card_routes.delete_comment),
    ("/actions/<action_id>", "GET", card_routes.get_action),
    ("/cards/<card_id>/customFieldItems", "GET", card_routes.card_empty_list),
    ("/cards/<card_id>/pluginData", "GET", card_routes.card_empty_list),
    ("/cards/<card_id>/attachments", "GET", card_routes.card_attachments),
    ("/cards/<card_id>/attachments", "POST", card_routes.add_attachment),
    ("/cards/<card_id>/attachments/<attachment_id>", "GET", card_routes.get_attachment),
    ("/cards/<card_id>/attachments/<attachment_id>", "DELETE", card_routes.delete_attachment),
    (
        "/cards/<card_id>/attachments/<attachment_id>/download/<name>",
        "GET",
        card_routes.download_attachment,
    ),
    ("/cards/<card_id>/checklists", "GET", card_routes.card_checklists),
    ("/cards/<card_id>/checklists", "POST", card_routes.add_card_checklist),
    ("/checklists", "POST", card_routes.add_checklist),
    ("/checklists/<checklist_id>", "GET", card_routes.get_checklist),
    ("/checklists/<checklist_id>/checkItems", "GET", card_routes.get_check_items),
    ("/checklists/<checklist_id>", "DELETE", card_routes.delete_checklist),
    ("/checklists/<checklist_id>/name", "PUT", card_routes.rename_checklist),
    ("/checklists/<checklist_id>/checkItems", "POST", card_routes.add_check_item),
    ("/checklists/<checklist_id>/checkItems/<item_id>", "DELETE", card_routes.delete_check_item),
    ("/cards/<card_id>/checkItem/<item_id>", "PUT", card_routes.update_check_item),
    (
        "/cards/<card_id>/checklist/<checklist_id>/checkItem/<item_id>",
        "PUT",
        card_routes.update_check_item_in,
    ),
    ("/tokens/<token>/webhooks", "POST", webhook_routes.create_webhook),
    ("/webhooks", "POST", webhook_routes.create_webhook),
    ("/tokens/<token>/webhooks", "GET", webhook_routes.token_webhooks),
    ("/tokens/<token>/webhooks/<webhook_id>", "GET", webhook_routes.get_webhook),
    ("/webhooks/<webhook_id>", "GET", webhook_routes.get_webhook),
    ("/webhooks/<webhook_id>/<field>", "GET", webhook_routes.get_webhook_field),
    ("/tokens/<token>/webhooks/<webhook_id>", "PUT", webhook_routes.update_webhook),
    ("/webhooks/<webhook_id>", "PUT", webhook_routes.update_webhook),
    ("/tokens/<token>/webhooks/<webhook_id>", "DELETE", webhook_routes.delete_webhook),
    ("/webhooks/<webhook_id>", "DELETE", webhook_routes.delete_webhook),
]
