/*
 * app.js - the renkei field web UI.  Plain JavaScript, no libraries, no
 * build step: renkeid embeds this file and serves it on loopback.
 *
 * It speaks the local API (common/api.h) through renkeid's web server
 * (daemon/webui.h): POST /ui/unlock with the passphrase gives a session
 * cookie (HttpOnly) and a CSRF token, which lives only in this page's
 * memory and goes with every call.  A reload therefore asks for the
 * passphrase again; what was typed survives it (drafts below).
 *
 * Storage:
 *   sessionStorage  drafts of every form (rk.draft.*) and the screen
 *                   being shown (rk.route): they survive a reload and a
 *                   lock, and go when the tab or browser is closed.
 *                   Patient text is kept there, never in localStorage.
 *   localStorage    the language, and per room the time of the newest
 *                   item already seen (rk.seen: for the unread count).
 *
 * Screens (location hash): #/ today's patients, #/room/ID/timeline,
 * /visit, /card, /meds, /requests, /conflicts; #/requests, #/conflicts.
 * Everything is built with DOM calls and textContent: nothing from the
 * API is ever parsed as HTML.
 */
'use strict';

(function () {

/* ---- words ---------------------------------------------------------------- */

const WORDS = {
	'skip': ['本文へ移動', 'Skip to content'],
	'lock': ['ロック', 'Lock'],
	'lang.other': ['English', '日本語'],
	'sync.title': ['同期の状態', 'Sync status'],
	'sync.now': ['今すぐ同期', 'Sync now'],
	'sync.online': ['オンライン', 'Online'],
	'sync.offline': ['オフライン', 'Offline'],
	'sync.running': ['同期中', 'Syncing'],
	'sync.unenrolled': ['ハブ未登録', 'Not enrolled'],
	'sync.nodaemon': ['renkeid に接続できません', 'renkeid is not answering'],
	'sync.locked': ['ロック中', 'Locked'],
	'sync.nohub': ['ハブに接続できません。記録はこの端末に保存され、電波が戻ると送信されます。', 'The hub cannot be reached. Records are kept on this device and sent when the signal returns.'],
	'sync.waiting': ['送信待ち {n} 件', '{n} waiting to sync'],
	'sync.last': ['最終同期 {t}', 'Last sync {t}'],
	'sync.never': ['まだ同期していません', 'Never synced'],
	'sync.started': ['同期を始めました', 'Sync started'],
	'sync.done': ['同期しました', 'Synced'],
	'sync.progress': ['同期の進み具合', 'Sync progress'],
	'sync.phase.push': ['送信中', 'Sending'],
	'sync.phase.pull': ['受信中', 'Receiving'],
	'sync.phase.snapshot': ['部屋を受信中', 'Receiving rooms'],
	'unlock.title': ['ロック解除', 'Unlock'],
	'unlock.intro': ['この端末のパスフレーズを入力してください。', 'Enter this device\'s passphrase.'],
	'unlock.pass': ['パスフレーズ', 'Passphrase'],
	'unlock.button': ['ロック解除', 'Unlock'],
	'unlock.wrong': ['パスフレーズが違います。', 'Wrong passphrase.'],
	'unlock.wait': ['試行が多すぎます。{s} 秒後にもう一度お試しください。', 'Too many tries. Try again in {s} seconds.'],
	'unlock.idle': ['しばらく操作がなかったのでロックしました。入力中の内容は残っています。', 'Locked after a while without use. What you were typing is kept.'],
	'unlock.locked': ['ロックしました。', 'Locked.'],
	'unlock.checking': ['確認しています…', 'Checking…'],
	'home.title': ['今日の患者', 'Today\'s patients'],
	'home.hint': ['担当している部屋です。', 'The rooms you are a member of.'],
	'home.none': ['担当の部屋はまだありません。', 'You are not in any room yet.'],
	'home.unread': ['未読 {n}', '{n} unread'],
	'home.requests': ['依頼 {n}', '{n} requests'],
	'home.conflicts': ['競合 {n}', '{n} conflicts'],
	'home.waiting': ['送信待ち {n}', '{n} waiting'],
	'home.lastvisit': ['最終訪問 {t}', 'Last visit {t}'],
	'home.novisit': ['訪問記録なし', 'No visits yet'],
	'nav.requests': ['自分への依頼', 'My requests'],
	'nav.conflicts': ['競合の確認', 'Conflicts to review'],
	'room.back': ['← 今日の患者', '← Today\'s patients'],
	'room.menu': ['部屋のメニュー', 'Room menu'],
	'tab.timeline': ['タイムライン', 'Timeline'],
	'tab.visit': ['訪問を記録', 'Record a visit'],
	'tab.card': ['救急情報カード', 'Emergency card'],
	'tab.meds': ['服薬', 'Medications'],
	'tab.requests': ['依頼', 'Requests'],
	'tab.conflicts': ['競合', 'Conflicts'],
	'post.label': ['メッセージを書く', 'Write a message'],
	'post.send': ['投稿する', 'Post'],
	'post.empty': ['メッセージを入力してください。', 'Write a message first.'],
	'post.done': ['投稿しました。', 'Posted.'],
	'timeline.none': ['まだ記録がありません。', 'Nothing recorded yet.'],
	'timeline.title': ['記録', 'Records'],
	'item.post': ['投稿', 'Post'],
	'item.visit': ['訪問', 'Visit'],
	'item.waiting': ['送信待ち', 'Waiting to sync'],
	'item.refused': ['ハブが受け付けませんでした', 'Refused by the hub'],
	'visit.when': ['訪問日時', 'Visit time'],
	'visit.note': ['観察・メモ', 'Observations'],
	'visit.save': ['記録する', 'Record'],
	'visit.clear': ['入力を消す', 'Clear'],
	'visit.last': ['前回 {v}（{t}）', 'Last {v} ({t})'],
	'visit.nolast': ['前回の値なし', 'No earlier value'],
	'visit.range': ['{min}〜{max} {unit} の範囲で入力してください', 'Enter {min}-{max} {unit}'],
	'visit.integer': ['整数で入力してください', 'Enter a whole number'],
	'visit.number': ['数字で入力してください', 'Enter a number'],
	'visit.nothing': ['少なくとも 1 つの値かメモを入力してください。', 'Enter at least one value or a note.'],
	'visit.fix': ['赤い欄を直してください。', 'Correct the fields marked in red.'],
	'visit.done': ['訪問を記録しました。', 'Visit recorded.'],
	'visit.hint': ['値は入力中に確認します。ありえない値は保存できません。', 'Values are checked as you type; impossible values cannot be saved.'],
	'card.edit': ['編集', 'Edit'],
	'card.save': ['保存', 'Save'],
	'card.cancel': ['キャンセル', 'Cancel'],
	'card.print': ['印刷', 'Print'],
	'card.unset': ['未記入', 'Not set'],
	'card.updated': ['最終更新 {t}（{who}）', 'Updated {t} by {who}'],
	'card.never': ['まだ記入されていません', 'Not filled in yet'],
	'card.saved': ['救急情報カードを保存しました。', 'Emergency card saved.'],
	'card.nochange': ['変更はありません。', 'Nothing changed.'],
	'card.waiting': ['カードの変更は送信待ちです', 'Card changes are waiting to sync'],
	'card.patient': ['患者', 'Patient'],
	'card.birth': ['生年月日', 'Date of birth'],
	'meds.title': ['救急情報カードの服薬欄', 'Medications on the emergency card'],
	'meds.current': ['処方中の薬', 'Current prescriptions'],
	'meds.stopped': ['中止 {d}', 'Stopped {d}'],
	'meds.from': ['開始 {d}', 'from {d}'],
	'meds.until': ['{d} まで', 'until {d}'],
	'meds.by': ['処方 {who}', 'prescribed by {who}'],
	'meds.stop': ['今日で中止', 'Stop today'],
	'meds.stopdone': ['中止にしました。', 'Stopped.'],
	'meds.addtitle': ['薬を追加', 'Add a medication'],
	'meds.name': ['薬の名前', 'Name'],
	'meds.dose': ['用量', 'Dose'],
	'meds.frequency': ['用法（回数）', 'Frequency'],
	'meds.route': ['経路', 'Route'],
	'meds.start': ['開始日', 'Start date'],
	'meds.prescriber': ['処方医', 'Prescriber'],
	'meds.add': ['追加する', 'Add'],
	'meds.added': ['薬を追加しました。', 'Medication added.'],
	'meds.needname': ['薬の名前を入力してください。', 'Enter the medication\'s name.'],
	'meds.cardnone': ['カードの服薬欄は空です。', 'The card\'s medications field is empty.'],
	'meds.hint': ['救急情報カードの「服薬」欄です。1 行に 1 剤を書いてください。', 'The emergency card\'s medications field: one medicine per line.'],
	'meds.none': ['登録された薬はありません。', 'No medications recorded.'],
	'meds.saved': ['服薬を保存しました。', 'Medications saved.'],
	'req.none': ['依頼はありません。', 'No requests.'],
	'req.list': ['この部屋の依頼', 'Requests in this room'],
	'req.new': ['依頼する', 'Ask for something'],
	'req.assignee': ['依頼先', 'Ask'],
	'req.kind': ['種類', 'Kind'],
	'req.title': ['件名（空なら種類の名前）', 'Title (blank: the kind)'],
	'req.duedate': ['期限', 'Due date'],
	'req.body': ['内容', 'Details'],
	'req.send': ['依頼を送る', 'Send the request'],
	'req.sent': ['依頼しました。', 'Request sent.'],
	'req.noassignee': ['依頼先がいません。', 'There is no one to ask.'],
	'req.fromto': ['{from} → {to}', '{from} → {to}'],
	'req.due': ['期限 {d}', 'due {d}'],
	'req.overdue': ['期限切れ', 'Overdue'],
	'req.readby': ['既読: {who}', 'Read by: {who}'],
	'req.unread': ['まだ誰も読んでいません', 'Nobody has read it yet'],
	'req.reason': ['理由: {r}', 'Reason: {r}'],
	'req.ack': ['確認しました', 'Acknowledge'],
	'req.complete': ['完了にする', 'Mark done'],
	'req.decline': ['お断りする', 'Decline'],
	'req.declinereason': ['お断りする理由', 'Reason for declining'],
	'req.reasonneeded': ['お断りする理由を入力してください。', 'Give a reason for declining.'],
	'req.withdraw': ['取り下げる', 'Withdraw'],
	'req.forme': ['自分への依頼', 'Asked of me'],
	'req.mine.hint': ['未対応と確認済みの依頼です。完了したものは各部屋の「依頼」にあります。', 'Open and acknowledged requests; finished ones stay in each room\'s Requests.'],
	'req.byme': ['自分が出した依頼', 'Asked by me'],
	'req.status.open': ['未対応', 'Open'],
	'req.status.acknowledged': ['確認済み', 'Acknowledged'],
	'req.status.done': ['完了', 'Done'],
	'req.status.declined': ['お断り', 'Declined'],
	'req.status.withdrawn': ['取り下げ', 'Withdrawn'],
	'req.done.acknowledged': ['確認済みにしました。', 'Acknowledged.'],
	'req.done.done': ['完了にしました。', 'Marked done.'],
	'req.done.declined': ['お断りしました。', 'Declined.'],
	'req.done.withdrawn': ['取り下げました。', 'Withdrawn.'],
	'req.unavailable': ['依頼の機能はこの renkeid にはまだありません。', 'This renkeid has no requests yet.'],
	'conf.none': ['確認が必要な競合はありません。', 'No conflicts to review.'],
	'conf.hint': ['同じ項目が別々の端末で書き換えられました。残す方を選んでください。選ばなかった方も記録に残ります。', 'The same field was changed on two devices. Choose the value to keep; the other stays on record.'],
	'conf.winner': ['いまの値（後から書かれた方）', 'Current value (written later)'],
	'conf.loser': ['もう一方の値', 'The other value'],
	'conf.mine': ['（自分）', '(mine)'],
	'conf.keep': ['こちらを残す', 'Keep this'],
	'conf.done': ['競合を解決しました。', 'Conflict resolved.'],
	'conf.when': ['{t} に検出', 'Found {t}'],
	'conf.missing': ['（行がありません）', '(no row)'],
	'conf.unavailable': ['競合の確認はこの renkeid にはまだありません。', 'This renkeid cannot list conflicts yet.'],
	'err.daemon': ['renkeid に接続できません。入力内容は残っています。', 'Cannot reach renkeid. What you typed is kept.'],
	'err.generic': ['エラー: {e}', 'Error: {e}'],
	'saving': ['保存しています…', 'Saving…'],
	'loading': ['読み込んでいます…', 'Loading…'],
	'me': ['{staff}', '{staff}'],
};

const CARD_LABELS = {
	diagnoses: ['病名', 'Diagnoses'],
	allergies: ['アレルギー', 'Allergies'],
	medications: ['服薬', 'Medications'],
	primary_doctor: ['主治医', 'Primary doctor'],
	deputy_doctor: ['副主治医', 'Deputy doctor'],
	family_contacts: ['家族の連絡先', 'Family contacts'],
	care_level: ['要介護度', 'Care level'],
	acp_summary: ['ACP（人生会議）の要点', 'ACP summary'],
	hospital: ['搬送先の病院', 'Hospital'],
	primary_doctor_phone: ['主治医の電話（夜間・休日）', 'Primary doctor\'s phone (after hours)'],
	deputy_doctor_phone: ['副主治医の電話（夜間・休日）', 'Deputy doctor\'s phone (after hours)'],
	dnar: ['DNAR（心肺蘇生についての意思）', 'DNAR (wishes about resuscitation)'],
	reviewed_at: ['カードの最終見直し日', 'Card last reviewed'],
};

/* How each card field is edited (default: a text area). */
const CARD_INPUT = {
	primary_doctor_phone: { type: 'tel', autocomplete: 'off' },
	deputy_doctor_phone: { type: 'tel', autocomplete: 'off' },
	reviewed_at: { type: 'date' },
};

const VITAL_EN = {
	bp_sys: 'Systolic BP', bp_dia: 'Diastolic BP', pulse: 'Pulse',
	temp: 'Temperature', spo2: 'SpO2', resp: 'Respiratory rate',
	weight: 'Weight',
};

let lang = (function () {
	try {
		return localStorage.getItem('rk.lang') === 'en' ? 'en' : 'ja';
	} catch (e) {
		return 'ja';
	}
})();

function t(key, vars) {
	const w = WORDS[key] || CARD_LABELS[key];
	let s = w ? w[lang === 'en' ? 1 : 0] : key;
	if (vars) {
		for (const k of Object.keys(vars))
			s = s.split('{' + k + '}').join(String(vars[k]));
	}
	return s;
}

function cardLabel(field) {
	const l = CARD_LABELS[field];
	return l ? l[lang === 'en' ? 1 : 0] : field;
}

function vitalLabel(v) {
	return lang === 'en' ? (VITAL_EN[v.field] || v.field) : v.label_ja;
}

function fmtTime(ms, withDate) {
	if (ms === null || ms === undefined)
		return '';
	const d = new Date(ms);
	const opts = { hour: '2-digit', minute: '2-digit' };
	const today = new Date();
	if (withDate !== false && d.toDateString() !== today.toDateString()) {
		opts.month = 'numeric';
		opts.day = 'numeric';
	}
	return d.toLocaleString(lang === 'en' ? 'en-GB' : 'ja-JP', opts);
}

/* ---- DOM helpers ------------------------------------------------------------ */

const $ = (id) => document.getElementById(id);

/* h('tag', {attrs}, children...): children are nodes or text. */
function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);
	if (attrs) {
		for (const [k, v] of Object.entries(attrs)) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'class')
				el.className = v;
			else if (k === 'text')
				el.textContent = v;
			else if (k.startsWith('on'))
				el.addEventListener(k.slice(2), v);
			else
				el.setAttribute(k, v === true ? '' : v);
		}
	}
	for (const kid of kids.flat()) {
		if (kid === null || kid === undefined || kid === false)
			continue;
		el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
	}
	return el;
}

function toast(msg) {
	const el = $('toast');
	el.textContent = msg;
	clearTimeout(toast.timer);
	toast.timer = setTimeout(() => { el.textContent = ''; }, 4000);
}

/* ---- state ---------------------------------------------------------------- */

const state = {
	config: null,		/* /ui/config */
	csrf: null,		/* memory only */
	staff: null,
	lastActivity: Date.now(),
	lastTouch: 0,
	sync: null,		/* last GET /v1/sync */
	status: null,		/* last GET /v1/status */
	reachable: true,
	pendingCount: null,
	features: {},		/* optional API routes found on this renkeid */
	lockReason: null,
	renderSeq: 0,
};

/* ---- drafts (sessionStorage) ---------------------------------------------- */

function draftKey(form, room) {
	return 'rk.draft.' + form + '.' + (room || '');
}

function draftLoad(form, room) {
	try {
		const s = sessionStorage.getItem(draftKey(form, room));
		return s ? JSON.parse(s) : null;
	} catch (e) {
		return null;
	}
}

function draftSave(form, room, values) {
	try {
		sessionStorage.setItem(draftKey(form, room), JSON.stringify(values));
	} catch (e) { /* full or disabled: nothing more to do */ }
}

function draftClear(form, room) {
	try {
		sessionStorage.removeItem(draftKey(form, room));
	} catch (e) { /* ignore */ }
}

/* Values of a form's named fields. */
function formValues(form) {
	const v = {};
	for (const el of form.querySelectorAll('[name]'))
		v[el.name] = el.value;
	return v;
}

/* Keeps a form's values in sessionStorage as they are typed, and puts a
 * saved draft back. */
function keepDraft(form, name, room) {
	const d = draftLoad(name, room);
	if (d) {
		for (const el of form.querySelectorAll('[name]'))
			if (typeof d[el.name] === 'string')
				el.value = d[el.name];
	}
	form.addEventListener('input', () => draftSave(name, room, formValues(form)));
	return d !== null;
}

/* ---- seen (localStorage: room -> newest item time seen) -------------------- */

function seenGet() {
	try {
		return JSON.parse(localStorage.getItem('rk.seen') || '{}') || {};
	} catch (e) {
		return {};
	}
}

function seenMark(room, at) {
	const s = seenGet();
	if (!s[room] || s[room] < at) {
		s[room] = at;
		try {
			localStorage.setItem('rk.seen', JSON.stringify(s));
		} catch (e) { /* ignore */ }
	}
}

/* ---- the API ---------------------------------------------------------------- */

class ApiError extends Error {
	constructor(status, code, message) {
		super(message || code || ('HTTP ' + status));
		this.status = status;
		this.code = code;
	}
}

async function api(method, path, body, opts) {
	opts = opts || {};
	const headers = {};
	if (state.csrf)
		headers['X-Renkei-CSRF'] = state.csrf;
	if (opts.background)
		headers['X-Renkei-Background'] = '1';
	const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let r;
	try {
		r = await fetch(path, init);
	} catch (e) {
		setReachable(false);
		throw new ApiError(0, 'unreachable', t('err.daemon'));
	}
	setReachable(true);
	let data = null;
	try {
		data = await r.json();
	} catch (e) { /* not JSON */ }
	if (r.status === 401 && state.csrf) {
		locked('idle');
		throw new ApiError(401, 'locked', t('unlock.idle'));
	}
	if (!r.ok)
		throw new ApiError(r.status, data && data.code, data && data.error);
	if (!opts.background)
		state.lastTouch = Date.now();
	return data;
}

/* Optional routes (being added to the local API): a "no such call" 404
 * means this renkeid does not have them. */
async function probe(name, path) {
	try {
		await api('GET', path, undefined, { background: true });
		state.features[name] = true;
	} catch (e) {
		state.features[name] = !(e.status === 404 && /no such call/.test(e.message));
	}
}

/* ---- lock and unlock -------------------------------------------------------- */

function locked(reason) {
	const wasUnlocked = state.csrf !== null;
	state.csrf = null;
	state.staff = null;
	state.lockReason = reason;
	$('lock').hidden = true;
	$('who').textContent = '';
	if (wasUnlocked || reason)
		render();
}

async function lockNow(reason) {
	if (state.csrf) {
		try {
			await api('POST', '/ui/lock', {});
		} catch (e) { /* locked anyway */ }
	}
	locked(reason || 'manual');
}

function renderUnlock(main) {
	const err = h('p', { class: 'alert error', id: 'unlock-err', role: 'alert' });
	const info = h('p', { class: 'alert info', id: 'unlock-info' });
	if (state.lockReason === 'idle')
		info.textContent = t('unlock.idle');
	else if (state.lockReason === 'manual')
		info.textContent = t('unlock.locked');
	const pass = h('input', { id: 'pass', name: 'passphrase', type: 'password',
		autocomplete: 'current-password', required: true,
		'aria-describedby': 'unlock-intro unlock-err' });
	const button = h('button', { type: 'submit', class: 'primary', id: 'unlock-button' },
		t('unlock.button'));
	const form = h('form', { class: 'panel unlock', id: 'unlock-form', novalidate: true },
		h('h1', { tabindex: '-1' }, t('unlock.title')),
		info,
		h('p', { id: 'unlock-intro' }, t('unlock.intro')),
		h('div', { class: 'field' }, h('label', { for: 'pass' }, t('unlock.pass')), pass),
		err,
		h('div', { class: 'actions' }, button));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		err.textContent = '';
		if (!pass.value) {
			err.textContent = t('unlock.wrong');
			pass.focus();
			return;
		}
		button.disabled = true;
		info.textContent = t('unlock.checking');
		try {
			const r = await fetch('/ui/unlock', {
				method: 'POST', credentials: 'same-origin', cache: 'no-store',
				headers: { 'Content-Type': 'text/plain;charset=utf-8' },
				body: pass.value,
			});
			const data = await r.json().catch(() => null);
			if (r.status === 200 && data && data.csrf) {
				pass.value = '';
				state.csrf = data.csrf;
				state.staff = data.staff;
				state.lockReason = null;
				state.lastActivity = Date.now();
				state.lastTouch = Date.now();
				if (data.idle_ms && state.config)
					state.config.idle_ms = data.idle_ms;
				$('lock').hidden = false;
				$('who').textContent = data.staff;
				await Promise.all([probe('requests', '/v1/requests'),
					probe('conflicts', '/v1/conflicts')]);
				pollSync();
				render();
				return;
			}
			info.textContent = '';
			if (r.status === 429) {
				const s = Math.ceil(((data && data.retry_after_ms) || 30000) / 1000);
				err.textContent = t('unlock.wait', { s });
			} else if (r.status === 401) {
				err.textContent = t('unlock.wrong');
			} else {
				err.textContent = t('err.generic', { e: (data && data.error) || r.status });
			}
		} catch (e) {
			info.textContent = '';
			err.textContent = t('err.daemon');
		}
		button.disabled = false;
		pass.select();
		pass.focus();
	});
	main.append(form);
	pass.focus();
}

/* Idle: the person's input keeps the session; a long quiet locks it. */
function activity() {
	state.lastActivity = Date.now();
	if (state.csrf && Date.now() - state.lastTouch > 60000) {
		state.lastTouch = Date.now();
		api('POST', '/ui/touch', {}).catch(() => {});
	}
}

function idleCheck() {
	if (!state.csrf || !state.config)
		return;
	if (Date.now() - state.lastActivity >= state.config.idle_ms)
		lockNow('idle');
}

/* ---- sync status bar --------------------------------------------------------- */

function setReachable(ok) {
	if (state.reachable === ok)
		return;
	state.reachable = ok;
	paintSync();
}

async function pollSync() {
	clearTimeout(pollSync.timer);
	let next = 3000;
	if (state.csrf) {
		try {
			/* /v1/status counts the outbox now; /v1/sync tells what the
			 * engine is doing (its own count is as of its last run). */
			const [s, st] = await Promise.all([
				api('GET', '/v1/sync', undefined, { background: true }),
				api('GET', '/v1/status', undefined, { background: true }),
			]);
			const before = state.pendingCount;
			state.sync = s;
			state.status = st;
			state.pendingCount = typeof st.pending === 'number' ? st.pending :
				(s.sync && s.sync.pending) || 0;
			if (s.sync && s.sync.running)
				next = 700;
			if (before !== null && before !== state.pendingCount)
				onPendingChanged();
		} catch (e) {
			if (e.status === 401)
				return;
		}
	}
	paintSync();
	pollSync.timer = setTimeout(pollSync, next);
}

function paintSync() {
	const net = $('net'), waiting = $('waiting'), last = $('lastsync');
	const bar = $('progress'), msg = $('syncmsg'), btn = $('syncnow');
	const s = state.sync && state.sync.sync;
	bar.hidden = true;
	btn.disabled = !state.csrf || !s || !s.enrolled;
	if (!state.reachable) {
		net.className = 'pill offline';
		net.textContent = t('sync.nodaemon');
		return;
	}
	if (!state.csrf) {
		net.className = 'pill none';
		net.textContent = t('sync.locked');
		waiting.textContent = '';
		last.textContent = '';
		msg.textContent = '';
		return;
	}
	if (!s) {
		net.className = 'pill none';
		net.textContent = '…';
		return;
	}
	if (!s.enrolled) {
		net.className = 'pill none';
		net.textContent = t('sync.unenrolled');
	} else if (s.running) {
		net.className = 'pill syncing';
		net.textContent = t('sync.running');
	} else if (s.ok && !s.last_error) {
		net.className = 'pill online';
		net.textContent = t('sync.online');
	} else {
		net.className = 'pill offline';
		net.textContent = t('sync.offline');
	}
	const n = state.pendingCount || 0;
	waiting.textContent = t('sync.waiting', { n });
	waiting.className = 'count-waiting' + (n > 0 ? ' has' : '');
	waiting.id = 'waiting';
	waiting.setAttribute('data-count', String(n));
	const lastSync = s.last_sync || (state.status && state.status.last_sync);
	last.textContent = lastSync ? t('sync.last', { t: fmtTime(lastSync) }) : t('sync.never');
	if (s.running) {
		bar.hidden = false;
		const total = s.total || s.bytes_total || 0;
		const done = s.total ? s.done : s.bytes;
		const inner = bar.firstElementChild;
		bar.setAttribute('role', 'progressbar');
		bar.setAttribute('aria-label', t('sync.progress'));
		if (total > 0) {
			const pct = Math.max(0, Math.min(100, Math.round(100 * (done || 0) / total)));
			bar.classList.remove('indeterminate');
			inner.style.width = pct + '%';
			bar.setAttribute('aria-valuenow', String(pct));
			bar.setAttribute('aria-valuemin', '0');
			bar.setAttribute('aria-valuemax', '100');
		} else {
			bar.classList.add('indeterminate');
			inner.style.width = '';
			bar.removeAttribute('aria-valuenow');
		}
		const phase = WORDS['sync.phase.' + s.phase] ? t('sync.phase.' + s.phase) : '';
		msg.textContent = phase + (total > 0 && s.total ? ' ' + (s.done || 0) + '/' + s.total : '');
	} else if (s.enrolled && s.last_error) {
		/* The daemon's words are English; the usual case gets ours. */
		msg.textContent = /unreachable|timed out|resolve/i.test(s.last_error) ?
			t('sync.nohub') + ' (' + s.last_error + ')' : s.last_error;
	} else {
		msg.textContent = '';
	}
}

async function syncNow() {
	activity();
	try {
		await api('POST', '/v1/sync', {});
		toast(t('sync.started'));
	} catch (e) {
		toast(e.message);
	}
	pollSync();
}

/* The outbox moved: badges of the screen being shown may change. */
function onPendingChanged() {
	const r = route();
	if (r.view === 'home' || (r.room && (r.tab === 'timeline' || r.tab === 'card')))
		refreshPendingMarks(r);
}

/* ---- routing ------------------------------------------------------------------ */

function route() {
	const parts = (location.hash || '#/').replace(/^#\/?/, '').split('/').map(decodeURIComponent);
	if (parts[0] === 'room' && parts[1])
		return { view: 'room', room: parts[1], tab: parts[2] || 'timeline' };
	if (parts[0] === 'requests')
		return { view: 'requests' };
	if (parts[0] === 'conflicts')
		return { view: 'conflicts' };
	return { view: 'home' };
}

function roomHref(room, tab) {
	return '#/room/' + encodeURIComponent(room) + (tab ? '/' + tab : '');
}

async function render() {
	const seq = ++state.renderSeq;
	const main = $('main');
	const r = route();
	try {
		sessionStorage.setItem('rk.route', location.hash || '#/');
	} catch (e) { /* ignore */ }
	document.documentElement.lang = lang;
	paintStatic();
	main.replaceChildren();
	if (!state.csrf) {
		renderUnlock(main);
		paintSync();
		return;
	}
	main.append(h('p', { class: 'hint', id: 'loading' }, t('loading')));
	try {
		const frag = document.createDocumentFragment();
		if (r.view === 'room')
			await renderRoom(frag, r);
		else if (r.view === 'requests')
			await renderMyRequests(frag);
		else if (r.view === 'conflicts')
			await renderConflicts(frag, null);
		else
			await renderHome(frag);
		if (seq !== state.renderSeq)
			return;		/* a later render took over */
		main.replaceChildren(frag);
		const h1 = main.querySelector('h1');
		if (h1 && render.focusHeading) {
			h1.setAttribute('tabindex', '-1');
			h1.focus();
		}
		render.focusHeading = false;
		const af = main.querySelector('[data-autofocus]');
		if (af)
			af.focus();
	} catch (e) {
		if (seq !== state.renderSeq || !state.csrf)
			return;
		main.replaceChildren(h('p', { class: 'alert error', role: 'alert' },
			t('err.generic', { e: e.message })));
	}
	paintSync();
}

function paintStatic() {
	$('lang').textContent = t('lang.other');
	$('lang').setAttribute('lang', lang === 'ja' ? 'en' : 'ja');
	for (const el of document.querySelectorAll('[data-i18n]'))
		el.textContent = t(el.getAttribute('data-i18n'));
	document.title = 'renkei 連携';
	$('progress').setAttribute('aria-label', t('sync.progress'));
}

/* ---- today's patients -------------------------------------------------------- */

async function renderHome(frag) {
	const rooms = (await api('GET', '/v1/rooms')).rooms.filter((r) => r.status !== 'archived');
	let mine = null, conflicts = null;
	if (state.features.requests)
		mine = await api('GET', '/v1/requests').catch(() => null);
	if (state.features.conflicts)
		conflicts = await api('GET', '/v1/conflicts').catch(() => null);
	/* Counts and times for every room in one call: no room's record is
	 * read (nor noted as read) to draw this list. */
	const ids = rooms.map((r) => r.room_id), seenAll = seenGet(), seen = {};
	for (const id of ids)
		if (Number.isInteger(seenAll[id]))
			seen[id] = seenAll[id];
	const home = await api('POST', '/ui/home', { rooms: ids, seen }).catch(() => null);
	const sums = rooms.map((r) => {
		const s = home && home.rooms && home.rooms[r.room_id];
		return s ? { unread: s.unread, lastVisit: s.last_visit, waiting: s.waiting } : null;
	});
	frag.append(h('h1', null, t('home.title')), h('p', { class: 'hint' }, t('home.hint')));
	const nav = h('div', { class: 'actions noprint' });
	if (state.features.requests)
		nav.append(h('a', { class: 'button', href: '#/requests' }, t('nav.requests')));
	if (state.features.conflicts)
		nav.append(h('a', { class: 'button', href: '#/conflicts' }, t('nav.conflicts')));
	if (nav.childElementCount)
		frag.append(nav);
	if (!rooms.length) {
		frag.append(h('p', { class: 'empty' }, t('home.none')));
		return;
	}
	const list = h('ul', { class: 'rooms', id: 'rooms' });
	rooms.forEach((room, i) => {
		const s = sums[i] || { unread: 0, lastVisit: null, waiting: 0 };
		const badges = h('span', { class: 'badges' });
		if (s.unread)
			badges.append(h('span', { class: 'badge unread' }, t('home.unread', { n: s.unread })));
		const reqs = mine && mine.requests ? mine.requests.filter((q) => q.room_id === room.room_id &&
			q.assignee === state.staff && (q.status === 'open' || q.status === 'acknowledged')).length : 0;
		if (reqs)
			badges.append(h('span', { class: 'badge req' }, t('home.requests', { n: reqs })));
		const confs = conflicts && conflicts.conflicts ?
			conflicts.conflicts.filter((c) => c.room_id === room.room_id).length : 0;
		if (confs)
			badges.append(h('span', { class: 'badge conflict' }, t('home.conflicts', { n: confs })));
		if (s.waiting)
			badges.append(h('span', { class: 'badge waiting' }, t('home.waiting', { n: s.waiting })));
		const name = room.patient_name || room.title || room.room_id;
		list.append(h('li', null, h('a', { class: 'room-card', href: roomHref(room.room_id),
			'data-room': room.room_id },
			h('span', { class: 'name' }, name),
			h('span', { class: 'sub' }, ' ' + room.room_id),
			h('div', { class: 'sub' }, s.lastVisit ? t('home.lastvisit', { t: fmtTime(s.lastVisit) }) :
				t('home.novisit')),
			badges)));
	});
	frag.append(list);
}

/* ---- a room ------------------------------------------------------------------- */

const TABS = ['timeline', 'visit', 'card', 'meds', 'requests', 'conflicts'];

async function renderRoom(frag, r) {
	const rooms = (await api('GET', '/v1/rooms')).rooms;
	const room = rooms.find((x) => x.room_id === r.room);
	const title = room ? (room.patient_name || room.title || room.room_id) : r.room;
	frag.append(h('p', { class: 'noprint' }, h('a', { href: '#/' }, t('room.back'))));
	frag.append(h('div', { class: 'room-head' }, h('h1', null, title),
		h('span', { class: 'hint' }, r.room)));
	const tabs = h('nav', { class: 'tabs', 'aria-label': t('room.menu') });
	for (const tab of TABS) {
		if ((tab === 'requests' && !state.features.requests) ||
		    (tab === 'conflicts' && !state.features.conflicts))
			continue;
		tabs.append(h('a', { href: roomHref(r.room, tab), id: 'tab-' + tab,
			'aria-current': tab === r.tab ? 'page' : null }, t('tab.' + tab)));
	}
	frag.append(tabs);
	const body = h('div', { id: 'room-body', 'data-room': r.room });
	frag.append(body);
	if (r.tab === 'visit')
		await renderVisit(body, r.room);
	else if (r.tab === 'card')
		await renderCard(body, r.room);
	else if (r.tab === 'meds')
		await renderMeds(body, r.room);
	else if (r.tab === 'requests')
		await renderRoomRequests(body, r.room);
	else if (r.tab === 'conflicts')
		await renderConflicts(body, r.room);
	else
		await renderTimeline(body, r.room);
}

function pendingBadge(status) {
	if (status === 'refused')
		return h('span', { class: 'badge refused', 'data-sync': 'refused' }, t('item.refused'));
	return h('span', { class: 'badge waiting', 'data-sync': 'waiting' }, t('item.waiting'));
}

function vitalsText(it) {
	const parts = [];
	const vit = state.config.vitals;
	const get = (f) => vit.find((v) => v.field === f);
	if (it.bp_sys !== null && it.bp_sys !== undefined || it.bp_dia !== null && it.bp_dia !== undefined)
		parts.push((lang === 'en' ? 'BP ' : '血圧 ') + (it.bp_sys ?? '–') + '/' + (it.bp_dia ?? '–'));
	for (const f of ['pulse', 'temp', 'spo2', 'resp', 'weight']) {
		if (it[f] === null || it[f] === undefined)
			continue;
		const v = get(f);
		parts.push((v ? vitalLabel(v) : f) + ' ' + it[f] + (v ? ' ' + v.unit : ''));
	}
	return parts;
}

async function renderTimeline(body, room) {
	const [tl, pend] = await Promise.all([
		api('GET', '/v1/rooms/' + encodeURIComponent(room) + '/timeline?limit=500'),
		api('GET', '/ui/pending?room=' + encodeURIComponent(room)).catch(() => null),
	]);
	/* compose */
	const text = h('textarea', { id: 'post-body', name: 'body', rows: '3',
		'aria-describedby': 'post-err' });
	const err = h('p', { class: 'alert error', id: 'post-err', role: 'alert' });
	const send = h('button', { type: 'submit', class: 'primary', id: 'post-send' }, t('post.send'));
	const form = h('form', { class: 'panel noprint', id: 'post-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'post-body' }, t('post.label')), text),
		err, h('div', { class: 'actions' }, send));
	keepDraft(form, 'post', room);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		err.textContent = '';
		if (!text.value.trim()) {
			err.textContent = t('post.empty');
			text.focus();
			return;
		}
		send.disabled = true;
		try {
			await api('POST', '/v1/rooms/' + encodeURIComponent(room) + '/posts', { body: text.value });
			draftClear('post', room);
			text.value = '';
			toast(t('post.done'));
			pollSync();
			await render();
			const again = $('post-body');
			if (again)
				again.focus();
			return;
		} catch (e) {
			err.textContent = e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message });
		}
		send.disabled = false;
	});
	body.append(form);
	body.append(h('h2', null, t('timeline.title')));
	const items = tl.items.slice().reverse();	/* newest first */
	if (!items.length) {
		body.append(h('p', { class: 'empty' }, t('timeline.none')));
		return;
	}
	const pending = new Set(pend ? pend.pending : []);
	const refused = new Set(pend ? pend.refused : []);
	const list = h('ol', { class: 'timeline', id: 'timeline', reversed: true });
	let newest = 0;
	for (const it of items) {
		newest = Math.max(newest, it.at);
		const meta = h('div', { class: 'meta' },
			h('strong', null, t('item.' + it.type)),
			h('span', null, it.author_name || it.author),
			h('time', { datetime: new Date(it.at).toISOString() }, fmtTime(it.at)));
		if (refused.has(it.id))
			meta.append(pendingBadge('refused'));
		else if (pending.has(it.id))
			meta.append(pendingBadge('pending'));
		const li = h('li', { class: 'item ' + it.type, 'data-id': it.id }, meta);
		if (it.type === 'visit') {
			const v = vitalsText(it);
			if (v.length)
				li.append(h('p', { class: 'vitals' }, v.map((s) => h('span', null, s))));
			if (it.note)
				li.append(h('p', { class: 'body' }, it.note));
		} else {
			li.append(h('p', { class: 'body' }, it.body));
		}
		list.append(li);
	}
	body.append(list);
	seenMark(room, newest);
}

/* Re-marks the waiting badges without re-rendering forms (typing goes on). */
async function refreshPendingMarks(r) {
	if (r.view === 'home') {
		/* Only the waiting badges: re-reading every room would note a
		 * read of each in the audit trail. */
		for (const a of document.querySelectorAll('#rooms a.room-card[data-room]')) {
			const room = a.getAttribute('data-room');
			let p;
			try {
				p = await api('GET', '/ui/pending?room=' + encodeURIComponent(room), undefined,
					{ background: true });
			} catch (e) {
				continue;
			}
			const n = p.pending.length + (p.card ? 1 : 0);
			const badges = a.querySelector('.badges');
			const old = badges.querySelector('.badge.waiting');
			if (old)
				old.remove();
			if (n)
				badges.append(h('span', { class: 'badge waiting' }, t('home.waiting', { n })));
		}
		return;
	}
	let pend;
	try {
		pend = await api('GET', '/ui/pending?room=' + encodeURIComponent(r.room), undefined,
			{ background: true });
	} catch (e) {
		return;
	}
	const pending = new Set(pend.pending), refused = new Set(pend.refused);
	for (const li of document.querySelectorAll('#timeline li[data-id]')) {
		const id = li.getAttribute('data-id');
		const meta = li.querySelector('.meta');
		const old = meta.querySelector('[data-sync]');
		if (old)
			old.remove();
		if (refused.has(id))
			meta.append(pendingBadge('refused'));
		else if (pending.has(id))
			meta.append(pendingBadge('pending'));
	}
	const cw = $('card-waiting');
	if (cw)
		cw.hidden = !pend.card;
}

/* ---- recording a visit ----------------------------------------------------------- */

function checkVital(v, raw) {
	if (raw === '')
		return null;
	const s = raw.trim().replace(/[０-９．]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0));
	if (!/^-?\d+(\.\d+)?$/.test(s))
		return t('visit.number');
	const n = Number(s);
	if (v.integer && !Number.isInteger(n))
		return t('visit.integer');
	if (n < v.min || n > v.max)
		return t('visit.range', { min: v.min, max: v.max, unit: v.unit });
	return null;
}

function toMs(local) {
	const d = new Date(local);
	return isNaN(d.getTime()) ? null : d.getTime();
}

function localNow() {
	const d = new Date();
	d.setSeconds(0, 0);
	const p = (n) => String(n).padStart(2, '0');
	return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' +
		p(d.getHours()) + ':' + p(d.getMinutes());
}

async function renderVisit(body, room) {
	const tl = await api('GET', '/v1/rooms/' + encodeURIComponent(room) + '/timeline?limit=500');
	/* The newest value of each vital sign, with its time. */
	const last = {};
	for (const it of tl.items) {
		if (it.type !== 'visit')
			continue;
		for (const v of state.config.vitals)
			if (it[v.field] !== null && it[v.field] !== undefined &&
			    (!last[v.field] || it.at >= last[v.field].at))
				last[v.field] = { value: it[v.field], at: it.at };
	}
	const form = h('form', { class: 'panel', id: 'visit-form', novalidate: true });
	const summary = h('p', { class: 'alert error', id: 'visit-err', role: 'alert' });
	form.append(h('p', { class: 'hint', id: 'visit-hint' }, t('visit.hint')));
	/* Left as it is, the time is the moment of saving (the daemon's). */
	const whenDefault = localNow();
	form.append(h('div', { class: 'field' },
		h('label', { for: 'visit-when' }, t('visit.when')),
		h('input', { id: 'visit-when', name: 'visited_at', type: 'datetime-local', value: whenDefault })));
	const grid = h('div', { class: 'vitals-grid' });
	const inputs = [];
	for (const v of state.config.vitals) {
		const id = 'v-' + v.field;
		const lastText = last[v.field] ?
			t('visit.last', { v: last[v.field].value + ' ' + v.unit, t: fmtTime(last[v.field].at) }) :
			t('visit.nolast');
		const input = h('input', { id, name: v.field, type: 'text',
			inputmode: v.integer ? 'numeric' : 'decimal', autocomplete: 'off',
			'aria-describedby': id + '-last ' + id + '-err',
			'data-min': v.min, 'data-max': v.max });
		const errEl = h('p', { class: 'err', id: id + '-err' });
		input.addEventListener('input', () => {
			const m = checkVital(v, input.value);
			errEl.textContent = m || '';
			input.setAttribute('aria-invalid', m ? 'true' : 'false');
		});
		inputs.push({ v, input, errEl });
		grid.append(h('div', { class: 'field' },
			h('label', { for: id }, vitalLabel(v) + ' (' + v.unit + ')'),
			input,
			h('p', { class: 'last', id: id + '-last' }, lastText),
			errEl));
	}
	form.append(grid);
	const note = h('textarea', { id: 'visit-note', name: 'note', rows: '4' });
	form.append(h('div', { class: 'field' }, h('label', { for: 'visit-note' }, t('visit.note')), note));
	form.append(summary);
	const save = h('button', { type: 'submit', class: 'primary', id: 'visit-save' }, t('visit.save'));
	const clear = h('button', { type: 'button', id: 'visit-clear' }, t('visit.clear'));
	form.append(h('div', { class: 'actions' }, save, clear));
	keepDraft(form, 'visit', room);
	for (const x of inputs)
		if (x.input.value)
			x.input.dispatchEvent(new Event('input'));
	clear.addEventListener('click', () => {
		for (const x of inputs) {
			x.input.value = '';
			x.errEl.textContent = '';
			x.input.setAttribute('aria-invalid', 'false');
		}
		note.value = '';
		form.querySelector('#visit-when').value = localNow();
		draftClear('visit', room);
		summary.textContent = '';
	});
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		summary.textContent = '';
		const payload = {};
		let firstBad = null, any = false;
		for (const x of inputs) {
			const m = checkVital(x.v, x.input.value);
			x.errEl.textContent = m || '';
			x.input.setAttribute('aria-invalid', m ? 'true' : 'false');
			if (m && !firstBad)
				firstBad = x.input;
			if (!m && x.input.value.trim() !== '') {
				payload[x.v.field] = Number(x.input.value.trim().replace(/[０-９．]/g,
					(c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0)));
				any = true;
			}
		}
		if (firstBad) {
			summary.textContent = t('visit.fix');
			firstBad.focus();
			return;
		}
		if (note.value.trim()) {
			payload.note = note.value;
			any = true;
		}
		if (!any) {
			summary.textContent = t('visit.nothing');
			inputs[0].input.focus();
			return;
		}
		const whenText = form.querySelector('#visit-when').value;
		const when = toMs(whenText);
		if (when !== null && whenText !== whenDefault)
			payload.visited_at = when;
		save.disabled = true;
		try {
			await api('POST', '/v1/rooms/' + encodeURIComponent(room) + '/visits', payload);
			draftClear('visit', room);
			toast(t('visit.done'));
			pollSync();
			render.focusHeading = true;
			location.hash = roomHref(room, 'timeline');
			return;
		} catch (e) {
			summary.textContent = e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message });
		}
		save.disabled = false;
	});
	body.append(form);
}

/* ---- the emergency card and medications ------------------------------------------- */

async function getCard(room) {
	const [card, pend] = await Promise.all([
		api('GET', '/v1/rooms/' + encodeURIComponent(room) + '/card'),
		api('GET', '/ui/pending?room=' + encodeURIComponent(room)).catch(() => null),
	]);
	return { card, cardPending: pend ? pend.card : null };
}

function cardWaitingNote(status) {
	return h('p', { class: 'alert info', id: 'card-waiting', hidden: !status },
		status === 'refused' ? t('item.refused') : t('card.waiting'));
}

async function renderCard(body, room) {
	const { card, cardPending } = await getCard(room);
	const fields = state.config.card_fields;
	const editing = renderCard.editing === room || draftLoad('card', room) !== null;
	body.append(cardWaitingNote(cardPending));
	if (!editing) {
		const dl = h('dl', { class: 'card', id: 'card-view' },
			h('dt', null, t('card.patient')), h('dd', null, card.patient_name || ''));
		if (card.birth_date)
			dl.append(h('dt', null, t('card.birth')), h('dd', null, card.birth_date));
		for (const f of fields) {
			const v = card[f];
			dl.append(h('dt', null, cardLabel(f)),
				h('dd', { class: v ? null : 'unset', 'data-field': f }, v || t('card.unset')));
		}
		body.append(h('div', { class: 'panel' }, dl,
			h('p', { class: 'hint' }, card.updated_at ?
				t('card.updated', { t: fmtTime(card.updated_at), who: card.updated_by || '' }) :
				t('card.never'))));
		const edit = h('button', { type: 'button', class: 'primary', id: 'card-edit' }, t('card.edit'));
		const print = h('button', { type: 'button', id: 'card-print' }, t('card.print'));
		edit.addEventListener('click', () => {
			renderCard.editing = room;
			render();
		});
		print.addEventListener('click', () => window.print());
		body.append(h('div', { class: 'actions' }, edit, print));
		return;
	}
	const form = h('form', { class: 'panel', id: 'card-form', novalidate: true });
	for (const f of fields) {
		const spec = CARD_INPUT[f];
		form.append(h('div', { class: 'field' },
			h('label', { for: 'card-' + f }, cardLabel(f)),
			spec ? h('input', Object.assign({ id: 'card-' + f, name: f }, spec)) :
				h('textarea', { id: 'card-' + f, name: f, rows: f === 'medications' ||
					f === 'family_contacts' || f === 'acp_summary' ? '3' : '2' })));
	}
	for (const f of fields)
		form.querySelector('#card-' + f).value = card[f] || '';
	keepDraft(form, 'card', room);
	const err = h('p', { class: 'alert error', id: 'card-err', role: 'alert' });
	const save = h('button', { type: 'submit', class: 'primary', id: 'card-save' }, t('card.save'));
	const cancel = h('button', { type: 'button', id: 'card-cancel' }, t('card.cancel'));
	form.append(err, h('div', { class: 'actions' }, save, cancel));
	cancel.addEventListener('click', () => {
		draftClear('card', room);
		renderCard.editing = null;
		render();
	});
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		err.textContent = '';
		const vals = formValues(form);
		const patch = {};
		for (const f of fields) {
			const nv = vals[f].trim() === '' ? null : vals[f];
			if ((card[f] || null) !== nv)
				patch[f] = nv;
		}
		if (!Object.keys(patch).length) {
			draftClear('card', room);
			renderCard.editing = null;
			toast(t('card.nochange'));
			render();
			return;
		}
		save.disabled = true;
		try {
			await api('PATCH', '/v1/rooms/' + encodeURIComponent(room) + '/card', patch);
			draftClear('card', room);
			renderCard.editing = null;
			toast(t('card.saved'));
			pollSync();
			render.focusHeading = true;
			render();
			return;
		} catch (e) {
			err.textContent = e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message });
		}
		save.disabled = false;
	});
	body.append(form);
	form.querySelector('[name]').setAttribute('data-autofocus', '');
}

/* The structured medication list (GET /v1/rooms/R/medications), or null
 * when this renkeid has none. */
async function getMeds(room) {
	try {
		return (await api('GET', '/v1/rooms/' + encodeURIComponent(room) + '/medications')).medications || [];
	} catch (e) {
		if (e.status === 404 && /no such call/.test(e.message))
			return null;
		throw e;
	}
}

function medLine(m) {
	return [m.name, m.dose, m.route, m.frequency].filter(Boolean).join(' ');
}

async function renderMeds(body, room) {
	const [{ card, cardPending }, meds, pend] = await Promise.all([getCard(room), getMeds(room),
		api('GET', '/ui/pending?room=' + encodeURIComponent(room)).catch(() => null)]);
	const waiting = new Set(pend ? pend.pending : []);
	body.append(cardWaitingNote(cardPending));
	if (meds !== null) {
		body.append(h('h2', null, t('meds.current')));
		if (meds.length) {
			const ul = h('ul', { class: 'timeline', id: 'meds-structured' });
			for (const m of meds) {
				const li = h('li', { class: 'item med' + (m.current ? '' : ' stopped'), 'data-id': m.id });
				const meta = h('div', { class: 'meta' },
					h('strong', { class: 'med-name' }, medLine(m)),
					m.current ? null : h('span', { class: 'badge' }, t('meds.stopped', { d: m.stop_date || '' })));
				if (waiting.has(m.id))
					meta.append(pendingBadge('pending'));
				li.append(meta);
				const dates = [m.start_date ? t('meds.from', { d: m.start_date }) : null,
					m.current && m.stop_date ? t('meds.until', { d: m.stop_date }) : null,
					m.prescriber ? t('meds.by', { who: m.prescriber }) : null].filter(Boolean);
				if (dates.length)
					li.append(h('p', { class: 'hint' }, dates.join(' · ')));
				if (m.current) {
					const stop = h('button', { type: 'button', class: 'small danger', 'data-act': 'stop',
						'aria-label': t('meds.stop') + ': ' + m.name }, t('meds.stop'));
					stop.addEventListener('click', async () => {
						stop.disabled = true;
						try {
							await api('POST', '/v1/rooms/' + encodeURIComponent(room) + '/medication-stop',
								{ id: m.id, stop_date: japanToday(0) });
							toast(t('meds.stopdone'));
							pollSync();
							render();
						} catch (e) {
							stop.disabled = false;
							toast(e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message }));
						}
					});
					li.append(h('div', { class: 'actions noprint' }, stop));
				}
				ul.append(li);
			}
			body.append(ul);
		} else {
			body.append(h('p', { class: 'empty' }, t('meds.none')));
		}
		const f = h('form', { class: 'panel noprint', id: 'med-add-form', novalidate: true });
		const fields = [['name', 'meds.name', 'text'], ['dose', 'meds.dose', 'text'],
			['frequency', 'meds.frequency', 'text'], ['route', 'meds.route', 'text'],
			['start_date', 'meds.start', 'date'], ['prescriber', 'meds.prescriber', 'text']];
		const grid = h('div', { class: 'vitals-grid' });
		for (const [name, label, type] of fields)
			grid.append(h('div', { class: 'field' }, h('label', { for: 'med-' + name }, t(label)),
				h('input', { id: 'med-' + name, name, type, autocomplete: 'off' })));
		const err = h('p', { class: 'alert error', id: 'med-err', role: 'alert' });
		const add = h('button', { type: 'submit', class: 'primary', id: 'med-add' }, t('meds.add'));
		f.append(h('h2', null, t('meds.addtitle')), grid, err, h('div', { class: 'actions' }, add));
		keepDraft(f, 'med', room);
		f.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			err.textContent = '';
			const v = formValues(f);
			if (!v.name.trim()) {
				err.textContent = t('meds.needname');
				f.querySelector('#med-name').focus();
				return;
			}
			const payload = {};
			for (const [name] of fields)
				if (v[name].trim())
					payload[name] = v[name].trim();
			add.disabled = true;
			try {
				await api('POST', '/v1/rooms/' + encodeURIComponent(room) + '/medications', payload);
				draftClear('med', room);
				toast(t('meds.added'));
				pollSync();
				render();
				return;
			} catch (e) {
				err.textContent = e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message });
			}
			add.disabled = false;
		});
		body.append(f);
	}
	body.append(h('h2', null, t('meds.title')), h('p', { class: 'hint' }, t('meds.hint')));
	const lines = (card.medications || '').split(/\n/).map((x) => x.trim()).filter(Boolean);
	body.append(lines.length ?
		h('ul', { class: 'meds panel', id: 'meds-list' }, lines.map((l) => h('li', null, l))) :
		h('p', { class: 'empty' }, t('meds.cardnone')));
	const text = h('textarea', { id: 'meds-text', name: 'medications', rows: '6' });
	text.value = card.medications || '';
	const form = h('form', { class: 'panel noprint', id: 'meds-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'meds-text' }, t('meds.title')), text));
	keepDraft(form, 'meds', room);
	const err = h('p', { class: 'alert error', id: 'meds-err', role: 'alert' });
	const save = h('button', { type: 'submit', class: 'primary', id: 'meds-save' }, t('card.save'));
	form.append(err, h('div', { class: 'actions' }, save));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const nv = text.value.trim() === '' ? null : text.value;
		if ((card.medications || null) === nv) {
			draftClear('meds', room);
			toast(t('card.nochange'));
			return;
		}
		save.disabled = true;
		try {
			await api('PATCH', '/v1/rooms/' + encodeURIComponent(room) + '/card', { medications: nv });
			draftClear('meds', room);
			toast(t('meds.saved'));
			pollSync();
			render();
			return;
		} catch (e) {
			err.textContent = e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message });
		}
		save.disabled = false;
	});
	body.append(form);
}

/* ---- requests and conflicts (when this renkeid has them) --------------------------- */

const REQUEST_KINDS = {
	'visiting-nurse-instruction': ['訪問看護指示書', 'Visiting-nurse instruction'],
	'information-letter': ['情報提供書', 'Information letter'],
	'home-visit-request': ['往診依頼', 'Home visit request'],
	'medication-check': ['薬の確認', 'Medication check'],
	'free': ['その他の依頼', 'Other request'],
};

function kindLabel(q) {
	const k = REQUEST_KINDS[q.kind];
	return k ? k[lang === 'en' ? 1 : 0] : (q.kind_label || q.kind);
}

/* Today in Japan, YYYY-MM-DD (due dates are Japanese calendar days). */
function japanToday(plusDays) {
	const d = new Date(Date.now() + (plusDays || 0) * 86400000);
	return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric',
		month: '2-digit', day: '2-digit' }).format(d);
}

function requestStatusBadge(q) {
	const cls = { open: 'req', acknowledged: 'unread', done: 'badge', declined: 'refused',
		withdrawn: 'badge' }[q.status] || 'badge';
	return h('span', { class: 'badge ' + cls, 'data-status': q.status }, t('req.status.' + q.status));
}

/* One request, with what this staff member may do to it. */
function requestItem(q, room, showRoom) {
	const me = state.staff;
	const li = h('li', { class: 'item request', 'data-id': q.id });
	const meta = h('div', { class: 'meta' }, h('strong', null, kindLabel(q)), requestStatusBadge(q));
	if (q.overdue)
		meta.append(h('span', { class: 'badge refused' }, t('req.overdue')));
	if (showRoom)
		meta.append(h('a', { href: roomHref(q.room_id, 'requests') }, q.room_id));
	li.append(meta, h('h3', { class: 'req-title' }, q.title));
	if (q.body)
		li.append(h('p', { class: 'body' }, q.body));
	li.append(h('p', { class: 'hint' }, t('req.fromto', {
		from: q.requester_name || q.requester, to: q.assignee_name || q.assignee }) +
		(q.due_date ? ' · ' + t('req.due', { d: q.due_date }) : '')));
	const reads = (q.read_by || []).map((r) => (r.name || r.staff) + ' ' + fmtTime(r.read_at));
	li.append(h('p', { class: 'hint req-read' }, reads.length ? t('req.readby', { who: reads.join('、') }) :
		t('req.unread')));
	if (q.status_reason)
		li.append(h('p', { class: 'hint' }, t('req.reason', { r: q.status_reason })));
	const actions = h('div', { class: 'actions noprint' });
	const act = async (status, reason) => {
		try {
			const body = { id: q.id, status };
			if (reason)
				body.reason = reason;
			await api('POST', '/v1/rooms/' + encodeURIComponent(q.room_id || room) + '/request-status', body);
			toast(t('req.done.' + status));
			pollSync();
			render();
		} catch (e) {
			toast(e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message }));
		}
	};
	const open = q.status === 'open' || q.status === 'acknowledged';
	if (q.assignee === me && open) {
		if (q.status === 'open')
			actions.append(h('button', { type: 'button', class: 'primary', 'data-act': 'acknowledged',
				onclick: () => act('acknowledged') }, t('req.ack')));
		actions.append(h('button', { type: 'button', class: q.status === 'open' ? '' : 'primary',
			'data-act': 'done', onclick: () => act('done') }, t('req.complete')));
		const reasonId = 'decline-' + q.id;
		const reason = h('input', { id: reasonId, type: 'text', name: 'reason' });
		const decline = h('button', { type: 'button', class: 'danger', 'data-act': 'declined' }, t('req.decline'));
		decline.addEventListener('click', () => {
			if (!reason.value.trim()) {
				reason.focus();
				toast(t('req.reasonneeded'));
				return;
			}
			act('declined', reason.value.trim());
		});
		actions.append(h('div', { class: 'field decline' }, h('label', { for: reasonId }, t('req.declinereason')),
			reason), decline);
	}
	if (q.requester === me && open)
		actions.append(h('button', { type: 'button', 'data-act': 'withdrawn',
			onclick: () => act('withdrawn') }, t('req.withdraw')));
	if (actions.childElementCount)
		li.append(actions);
	return li;
}

/* Marks requests read by this staff member ("OK"), once each. */
function markRead(list, room) {
	for (const q of list) {
		if (q.requester === state.staff || (q.read_by || []).some((r) => r.staff === state.staff))
			continue;
		api('POST', '/v1/rooms/' + encodeURIComponent(q.room_id || room) + '/read', { id: q.id },
			{ background: true }).catch(() => {});
	}
}

async function renderRoomRequests(body, room) {
	if (!state.features.requests) {
		body.append(h('p', { class: 'empty' }, t('req.unavailable')));
		return;
	}
	const [list, members] = await Promise.all([
		api('GET', '/v1/rooms/' + encodeURIComponent(room) + '/requests'),
		api('GET', '/v1/rooms/' + encodeURIComponent(room) + '/members').catch(() => ({ members: [] })),
	]);
	const reqs = list.requests || [];
	body.append(h('h2', null, t('req.list')));
	if (reqs.length) {
		body.append(h('ul', { class: 'timeline', id: 'requests' }, reqs.map((q) => requestItem(q, room, false))));
		markRead(reqs, room);
	} else {
		body.append(h('p', { class: 'empty', id: 'requests-none' }, t('req.none')));
	}
	/* Asking a member for something. */
	const others = (members.members || []).filter((m) => m.staff_id !== state.staff &&
		(m.status || 'active') === 'active');
	const form = h('form', { class: 'panel noprint', id: 'request-form', novalidate: true });
	const kind = h('select', { id: 'req-kind', name: 'kind' },
		Object.keys(REQUEST_KINDS).map((k) => h('option', { value: k }, REQUEST_KINDS[k][lang === 'en' ? 1 : 0])));
	const who = h('select', { id: 'req-assignee', name: 'assignee' },
		others.map((m) => h('option', { value: m.staff_id },
			(m.name || m.staff_id) + (m.agency_name ? '（' + m.agency_name + '）' : ''))));
	const title = h('input', { id: 'req-title', name: 'title', type: 'text' });
	const due = h('input', { id: 'req-due', name: 'due_date', type: 'date', min: japanToday(0) });
	const text = h('textarea', { id: 'req-body', name: 'body', rows: '3' });
	const err = h('p', { class: 'alert error', id: 'req-err', role: 'alert' });
	const send = h('button', { type: 'submit', class: 'primary', id: 'req-send' }, t('req.send'));
	form.append(h('h2', null, t('req.new')),
		h('div', { class: 'field' }, h('label', { for: 'req-assignee' }, t('req.assignee')), who),
		h('div', { class: 'field' }, h('label', { for: 'req-kind' }, t('req.kind')), kind),
		h('div', { class: 'field' }, h('label', { for: 'req-title' }, t('req.title')), title),
		h('div', { class: 'field' }, h('label', { for: 'req-due' }, t('req.duedate')), due),
		h('div', { class: 'field' }, h('label', { for: 'req-body' }, t('req.body')), text),
		err, h('div', { class: 'actions' }, send));
	keepDraft(form, 'request', room);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		err.textContent = '';
		if (!who.value) {
			err.textContent = t('req.noassignee');
			return;
		}
		const payload = { assignee: who.value, kind: kind.value,
			title: title.value.trim() || kindLabel({ kind: kind.value }) };
		if (text.value.trim())
			payload.body = text.value;
		if (due.value)
			payload.due_date = due.value;
		send.disabled = true;
		try {
			await api('POST', '/v1/rooms/' + encodeURIComponent(room) + '/requests', payload);
			draftClear('request', room);
			toast(t('req.sent'));
			pollSync();
			render();
			return;
		} catch (e) {
			err.textContent = e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message });
		}
		send.disabled = false;
	});
	body.append(form);
}

async function renderMyRequests(frag) {
	frag.append(h('h1', null, t('nav.requests')));
	if (!state.features.requests) {
		frag.append(h('p', { class: 'empty' }, t('req.unavailable')));
		return;
	}
	const mine = (await api('GET', '/v1/requests')).requests || [];
	frag.append(h('p', { class: 'hint' }, t('req.mine.hint')));
	const forMe = mine.filter((q) => q.assignee === state.staff);
	const byMe = mine.filter((q) => q.requester === state.staff && q.assignee !== state.staff);
	frag.append(h('h2', null, t('req.forme')));
	frag.append(forMe.length ? h('ul', { class: 'timeline', id: 'requests-for-me' },
		forMe.map((q) => requestItem(q, q.room_id, true))) : h('p', { class: 'empty' }, t('req.none')));
	frag.append(h('h2', null, t('req.byme')));
	frag.append(byMe.length ? h('ul', { class: 'timeline', id: 'requests-by-me' },
		byMe.map((q) => requestItem(q, q.room_id, true))) : h('p', { class: 'empty' }, t('req.none')));
	markRead(forMe, null);
}

/* Which of the two values a person keeps.  The API speaks of "mine" and
 * "theirs" when exactly one side was written by this staff member;
 * otherwise the chosen value itself is sent. */
function keepFor(c, side) {
	const w = c.winner || {}, l = c.loser || {};
	if (!!w.mine !== !!l.mine)
		return side.mine ? 'mine' : 'theirs';
	return side.missing ? null : side.value;
}

function sideLabel(field) {
	return CARD_LABELS[field] ? cardLabel(field) : field;
}

function conflictSide(c, side, which, i) {
	const who = side.staff_name || side.staff || side.origin || '?';
	const val = side.missing ? t('conf.missing') : (side.value === null || side.value === undefined ||
		side.value === '' ? t('card.unset') : String(side.value));
	const keep = h('button', { type: 'button', class: which === 'winner' ? 'primary' : '',
		id: 'conf-' + i + '-keep-' + which, 'data-keep': which },
	t('conf.keep'));
	keep.addEventListener('click', async () => {
		keep.disabled = true;
		try {
			await api('POST', '/v1/conflicts/' + encodeURIComponent(c.id) + '/resolve',
				{ keep: keepFor(c, side) });
			toast(t('conf.done'));
			pollSync();
			render();
		} catch (e) {
			keep.disabled = false;
			toast(e.status === 0 ? t('err.daemon') : t('err.generic', { e: e.message }));
		}
	});
	return h('section', { class: 'panel', 'aria-label': t('conf.' + which) + ': ' + who },
		h('h3', null, t('conf.' + which) + (side.mine ? ' ' + t('conf.mine') : '')),
		h('p', { class: 'body conf-value', 'data-side': which }, val),
		h('p', { class: 'hint' }, who + (side.at ? ' · ' + fmtTime(side.at) : '')),
		h('div', { class: 'actions' }, keep));
}

async function renderConflicts(frag, room) {
	if (!room)
		frag.append(h('h1', null, t('nav.conflicts')));
	if (!state.features.conflicts) {
		frag.append(h('p', { class: 'empty' }, t('conf.unavailable')));
		return;
	}
	const all = (await api('GET', '/v1/conflicts')).conflicts || [];
	const list = all.filter((c) => c.status === 'open' && (!room || c.room_id === room));
	if (!list.length) {
		frag.append(h('p', { class: 'empty', id: 'conflicts-none' }, t('conf.none')));
		return;
	}
	frag.append(h('p', { class: 'hint' }, t('conf.hint')));
	const ul = h('ul', { class: 'timeline', id: 'conflicts' });
	list.forEach((c, i) => {
		ul.append(h('li', { class: 'item conflict', 'data-id': c.id },
			h('h2', null, (room ? '' : (c.room_id + ' · ')) + sideLabel(c.column) +
				(c.table && c.table !== 'emergency_cards' ? ' (' + c.table + ')' : '')),
			h('p', { class: 'hint' }, t('conf.when', { t: fmtTime(c.created_at) })),
			h('div', { class: 'side-by-side' },
				conflictSide(c, c.winner || {}, 'winner', i),
				conflictSide(c, c.loser || {}, 'loser', i))));
	});
	frag.append(ul);
}

/* ---- start ----------------------------------------------------------------------- */

async function start() {
	try {
		const r = await fetch('/ui/config', { cache: 'no-store' });
		state.config = await r.json();
	} catch (e) {
		setReachable(false);
		state.config = { idle_ms: 600000, vitals: [], card_fields: [] };
	}
	/* After a reload, come back to the same screen once unlocked. */
	try {
		const saved = sessionStorage.getItem('rk.route');
		if (saved && !location.hash)
			history.replaceState(null, '', saved);
	} catch (e) { /* ignore */ }
	$('lang').addEventListener('click', () => {
		lang = lang === 'ja' ? 'en' : 'ja';
		try {
			localStorage.setItem('rk.lang', lang);
		} catch (e) { /* ignore */ }
		render();
	});
	$('lock').addEventListener('click', () => lockNow('manual'));
	$('syncnow').addEventListener('click', syncNow);
	window.addEventListener('hashchange', () => {
		render.focusHeading = true;
		activity();
		render();
	});
	for (const ev of ['pointerdown', 'keydown', 'input', 'wheel', 'touchstart'])
		document.addEventListener(ev, activity, { passive: true, capture: true });
	setInterval(idleCheck, 5000);
	render();
	pollSync();
}

document.addEventListener('DOMContentLoaded', start);

})();
