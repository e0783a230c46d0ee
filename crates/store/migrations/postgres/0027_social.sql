-- Social networks (issue 16, docs/social.md): each program's VK group and Facebook/Instagram
-- app (secrets sealed), the OAuth clients customers link their profiles through, the network
-- identities of customers, the activity each network event recorded (so a removal finds what
-- it undoes), and the OAuth flows under way.
CREATE TABLE social_settings (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL UNIQUE REFERENCES programs(id),
    vk_group_id BIGINT,
    vk_confirmation TEXT,
    sealed_vk_secret TEXT,
    sealed_facebook_app_secret TEXT,
    sealed_facebook_verify_token TEXT,
    -- JSON arrays of ids (strings).
    facebook_page_ids TEXT NOT NULL,
    instagram_account_ids TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE social_oauth_clients (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    network TEXT NOT NULL,
    client_id TEXT NOT NULL,
    sealed_client_secret TEXT NOT NULL,
    authorize_url TEXT NOT NULL,
    token_url TEXT NOT NULL,
    user_info_url TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (program_id, network)
);

-- One network account belongs to at most one customer of a program, and a customer has at
-- most one account of each network.
CREATE TABLE social_identities (
    program_id BIGINT NOT NULL REFERENCES programs(id),
    network TEXT NOT NULL,
    network_user_id TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (program_id, network, network_user_id),
    UNIQUE (program_id, customer_id, network)
);

-- An activity a network reported and kopilka applied: `activity` is `like`, `comment`,
-- `repost` or `member`, `object` the network's own id of what it is on (a post, a comment, a
-- group). A removal undoes the latest one (highest id) of the same (network, activity, object, user).
CREATE TABLE social_activity (
    id BIGSERIAL PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    event_id TEXT NOT NULL,
    network TEXT NOT NULL,
    activity TEXT NOT NULL,
    object TEXT NOT NULL,
    network_user_id TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    created_at BIGINT NOT NULL,
    UNIQUE (program_id, event_id)
);
CREATE INDEX social_activity_object ON social_activity (program_id, network, activity, object, id);

-- An OAuth authorization-code flow under way: `state_digest` is SHA-256 of the `state` sent to
-- the network; `session_digest` the cabinet session it is bound to (linking); the PKCE
-- verifier sealed. Used once.
CREATE TABLE social_oauth_flows (
    id BIGSERIAL PRIMARY KEY,
    state_digest TEXT NOT NULL UNIQUE,
    program_id BIGINT NOT NULL REFERENCES programs(id),
    network TEXT NOT NULL,
    purpose TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    session_digest TEXT,
    sealed_code_verifier TEXT NOT NULL,
    used BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
