#!/bin/sh
# Sends VK Callback API events to a `kopilka demo` server, as VK sends them, and shows the
# linked demo customer's balance move through the seed's examples (docs/social.md).
#
#   kopilka demo &            # prints the admin token and the social program's URL
#   KOPILKA=http://127.0.0.1:8080 TOKEN=<admin token> PROGRAM=3 sh docs/social-demo.sh
set -eu
KOPILKA=${KOPILKA:-http://127.0.0.1:8080}
TOKEN=${TOKEN:?the admin token kopilka demo printed}
PROGRAM=${PROGRAM:?the social program id kopilka demo printed}
GROUP=218000001
SECRET=demo-vk-secret-0001
USER=1001

customer=$(curl -fsS -H "Authorization: Bearer $TOKEN" \
    "$KOPILKA/v1/customers?program_id=$PROGRAM&phone=79000000501" |
    sed -n 's/.*"items":\[{"id":\([0-9]*\).*/\1/p')

balance() {
    b=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$KOPILKA/v1/customers/$customer/balances" |
        sed -n 's/.*"balance_minor":\([0-9-]*\).*/\1/p')
    printf '%-52s balance %s\n' "$1" "$b"
}

vk() { # type event_id object
    answer=$(curl -fsS -H 'Content-Type: application/json' "$KOPILKA/social/$PROGRAM/vk" \
        -d "{\"type\":\"$1\",\"event_id\":\"$2\",\"v\":\"5.199\",\"object\":$3,\"group_id\":$GROUP,\"secret\":\"$SECRET\"}")
    [ "$answer" = ok ] || { echo "VK answer: $answer"; exit 1; }
}

like() { # type event_id post
    vk "$1" "$2" "{\"liker_id\":$USER,\"object_type\":\"post\",\"object_owner_id\":-$GROUP,\"object_id\":$3,\"post_id\":0,\"thread_reply_id\":0}"
}

echo "confirmation: $(curl -fsS -H 'Content-Type: application/json' "$KOPILKA/social/$PROGRAM/vk" \
    -d "{\"type\":\"confirmation\",\"group_id\":$GROUP}")"
balance "customer $customer, VK account $USER linked (+100)"
vk group_join "demo-join-$$" "{\"user_id\":$USER,\"join_type\":\"join\"}"
balance "group_join (+50)"
vk group_join "demo-join-$$" "{\"user_id\":$USER,\"join_type\":\"join\"}"
balance "the same event_id again (nothing)"
for post in 1 2 3 4 5 6 7 8 9 10 11 12; do
    like like_add "demo-like-$$-$post" "$post"
done
balance "12 likes: 5 + 1 each, at most 15 a month"
like like_remove "demo-unlike-$$-1" 1
balance "like_remove of the first (its 5 back)"
vk wall_reply_new "demo-comment-$$" "{\"id\":501$$,\"from_id\":$USER,\"date\":$(date +%s),\"text\":\"Отлично!\",\"post_id\":3,\"owner_id\":-$GROUP,\"post_owner_id\":-$GROUP}"
balance "wall_reply_new (+3)"
vk wall_reply_delete "demo-uncomment-$$" "{\"owner_id\":-$GROUP,\"id\":501$$,\"deleter_id\":1,\"post_id\":3}"
balance "wall_reply_delete (its 3 back)"
vk wall_repost "demo-repost-$$" "{\"id\":77,\"owner_id\":$USER,\"from_id\":$USER,\"copy_history\":[{\"id\":3,\"owner_id\":-$GROUP,\"from_id\":-$GROUP}]}"
balance "wall_repost (+10)"
vk group_leave "demo-leave-$$" "{\"user_id\":$USER,\"self\":1}"
balance "group_leave (the join's 50 back)"
