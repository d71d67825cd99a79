"""Who a chat user is and what their role grants let them do."""
