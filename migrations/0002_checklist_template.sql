-- The site and service migration checklist, from the operations blog this product
-- replaces ("Migrating Websites & Services Checklist"), every point of it in our own
-- words, grouped by its sections. Points the blog repeated appear once.

INSERT INTO checklist_template (id, slug, name, description) VALUES
(1, 'site-service-migration', 'Site and service migration',
 'What to settle before, during and after moving websites and services between servers.');

INSERT INTO checklist_template_section (id, template_id, position, slug, title, summary) VALUES
(1,  1, 1,  'planning',       'Planning',       'Scope, timing and risk of the move.'),
(2,  1, 2,  'services',       'Services',       'Each service, its configuration and its data on the new servers.'),
(3,  1, 3,  'ssl',            'SSL',            'Certificates for every name the sites answer to.'),
(4,  1, 4,  'email',          'Email',          'Mail services and what they need around them.'),
(5,  1, 5,  'dns',            'DNS',            'Names, TTLs and addresses, so clients follow the move.'),
(6,  1, 6,  'permissions',    'Permissions',    'Where the code and users write, and as whom.'),
(7,  1, 7,  'cache',          'Cache',          'Shared and local caches after the move.'),
(8,  1, 8,  'networking',     'Networking',     'Moving traffic over gradually.'),
(9,  1, 9,  'security',       'Security',       'Firewalls, accounts and keys.'),
(10, 1, 10, 'optimizations',  'Optimizations',  'Tuning the old servers had.'),
(11, 1, 11, 'load-balancing', 'Load balancing', 'Virtual IPs, virtual hosts and failover.'),
(12, 1, 12, 'monitoring',     'Monitoring',     'Watching the new servers.'),
(13, 1, 13, 'database',       'Database',       'Copying and replicating the data (details vary by setup).'),
(14, 1, 14, 'other',          'Other',          'General changes that are easy to forget.');

INSERT INTO checklist_template_item (id, section_id, position, text, guidance, automated_check) VALUES
-- Planning
(1,  1, 1, 'List the services each active domain really uses: FTP, HTTP, SMTP, IMAP, POP3, MySQL and the rest.',
     'This list drives the service checks after the move.', 'service_ports'),
(2,  1, 2, 'Agree which maintenance windows are available, if any.', NULL, NULL),
(3,  1, 3, 'Measure the traffic and find the quietest hours.', NULL, NULL),
(4,  1, 4, 'Record whether the infrastructure is dedicated, sharded, or split by service or role.', NULL, NULL),
(5,  1, 5, 'Decide which parts can be moved on their own as separate components.', NULL, NULL),
(6,  1, 6, 'List the core functions of each site to test after the move.',
     'For example sending email, uploads (which need write permissions), and adding, editing and removing users. Ideally automate them as functional and unit tests.', NULL),
(7,  1, 7, 'Count the servers being moved, and automate the move when there are many.', NULL, NULL),
(8,  1, 8, 'Rate how critical the site or service is: who stops working while it is down?',
     'The blog''s yardstick: does an outage stop 80 staff working?', NULL),
-- Services
(9,  2, 1, 'Install each service on the new servers first.', NULL, NULL),
(10, 2, 2, 'List every configuration file of each service, as a tree.', NULL, NULL),
(11, 2, 3, 'Make each service''s configuration match between old and new servers, or write down the compromises.', NULL, NULL),
(12, 2, 4, 'List the data directories of each service, such as /var/lib/mysql.', NULL, NULL),
(13, 2, 5, 'Find out whether the data can be transferred atomically.', NULL, NULL),
(14, 2, 6, 'Find out whether services can be replicated and brought into sync before the switch.', NULL, NULL),
(15, 2, 7, 'Decide what can be back-filled later: the least data (large log tables, say) the site needs to work.', NULL, NULL),
-- SSL
(16, 3, 1, 'Make sure a valid certificate exists for every domain, sub-domain and CDN name on the new servers.',
     'Check the names it covers and the days left before it expires.', 'tls_certificate'),
-- Email
(17, 4, 1, 'Note any special firewall or configuration requirements of the mail services.', NULL, NULL),
-- DNS
(18, 5, 1, 'Lower the TTL of each domain well before it moves, where you can.',
     'The old TTL must expire before the switch for the new one to matter.', 'dns_ttl'),
(19, 5, 2, 'Do not rely on low TTLs alone: large companies and ISPs cache records for longer than asked.', NULL, NULL),
(20, 5, 3, 'Bind each domain to its own VIP on the new servers, so the old site can send visitors there if DNS lags.',
     'A redirect on the old site to the new address keeps the domain working while caches expire.', NULL),
(21, 5, 4, 'Test that fallback before the move, over HTTP and over HTTPS where it is used.', NULL, 'http_host'),
-- Permissions
(22, 6, 1, 'Find out whether content is uploaded to the servers or the code writes to the file system.', NULL, NULL),
(23, 6, 2, 'Check that those paths are writable on the new servers.', NULL, NULL),
(24, 6, 3, 'Check the user and group that write there.', NULL, NULL),
-- Cache
(25, 7, 1, 'Find out whether the site uses a distributed or a local cache.', NULL, NULL),
(26, 7, 2, 'Make sure sites sharing a cache cannot collide, for example by prefixing cache keys per site.', NULL, NULL),
-- Networking
(27, 8, 1, 'Decide whether some services can be moved ahead of the rest.', NULL, NULL),
(28, 8, 2, 'Repoint them with iptables and watch the bytes through the old interface until it falls idle.', NULL, NULL),
-- Security
(29, 9, 1, 'Replicate the firewall restrictions, in hardware, iptables or elsewhere.', NULL, NULL),
(30, 9, 2, 'Replicate chroots, user accounts and SSH keys.', NULL, NULL),
-- Optimizations
(31, 10, 1, 'Carry over special tuning, such as a local dnsmasq or sysctl changes.', NULL, NULL),
-- Load balancing
(32, 11, 1, 'Give each domain its own VIP: HTTP/1.0 clients may send no Host header.', NULL, 'http_host'),
(33, 11, 2, 'Do not use wildcards in virtual hosts, for the same reason.', NULL, NULL),
(34, 11, 3, 'For load-balanced sites over SSL, make sure the balancer passes TCP through correctly (see the VIP point).', NULL, 'service_ports'),
(35, 11, 4, 'Take each VIP of the web pool down in turn: does the right site fail over on every node?', NULL, NULL),
-- Monitoring
(36, 12, 1, 'Replicate the monitoring of the old servers on the new ones.', NULL, NULL),
-- Database
(37, 13, 1, 'Find out whether the database is replicated.', NULL, NULL),
(38, 13, 2, 'Take LVM snapshots of the raw data on a replica and rsync them to the new servers.', NULL, NULL),
(39, 13, 3, 'Change what must differ (server ids, grants on the primary, firewall), start the service, then start replication from the right binlog position.', NULL, NULL),
-- Other
(40, 14, 1, 'Check /etc/hosts for customisations the sites need in order to work.', NULL, NULL);
