"""Telling residents what concerns them: Web Push (RFC 8030, 8291, 8292) and e-mail, sent in the background.

- `vapid`: the hub's VAPID key pair (RFC 8292), kept in the data directory.
- `messages`: what is said: an officer's request, and a view that started.
- `push`: one encrypted push message to one browser (pywebpush), `email`: one e-mail (aiosmtplib).
- `dispatcher`: the bounded queue and the task that sends, so the consent path never waits on a push service.
- `setup`: the app's notifier, opened and closed in its cleanup context, and the hooks the API calls.
"""
