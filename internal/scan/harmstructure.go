package scan

import (
	"math"
	"strings"
)

// Structural features of harmful requests. The request head of the first
// stage learns its training sources' words, which generalises poorly to a
// source it never saw (held out, its Platt slope is ≈ 0.4) and not at all
// to languages it barely saw. These features describe what a harmful
// request is made of in any source: a harm topic (weapons, drugs, attacks
// on computers, fraud, violence, stalking, sexual abuse, self-harm
// methods, hate, theft), a request form ("how do I", "step by step",
// "write me"), a victim ("my neighbour", "someone") and an intent to evade
// ("without getting caught", "untraceable") — against the cues of text
// that only talks about a topic (history, "why", "what is", prevention,
// detection, the law) or is about computing chores ("kill a process").
// The cue lists are team-authored from general knowledge, in English and
// the languages of the multilingual sources (zh, it, vi, ar, ko, th, bn,
// sw, jv), not taken from any data set. Counts are densities per word and
// the cue groups of the densest window, so long texts do not outscore
// short ones. The harm second stage (weights/harmreq.json, package dense)
// reads them with the first stage's scores.

// harm cue groups: topics first (hTopic0..hTopicN-1), then the rest.
const (
	hWeapon   = iota // bombs, guns, chemical weapons
	hDrug            // drug synthesis and dealing
	hCyber           // malware, hacking others
	hFraud           // scams, laundering, forgery
	hViolence        // hurting a person
	hPrivacy         // stalking, doxxing, spying
	hSexual          // sexual content, abuse, minors
	hSelfHarm        // suicide and self-harm methods
	hHate            // hate and extremism
	hTheft           // theft, burglary, smuggling
	nHarmTopic
)

const (
	hForm   = nHarmTopic + iota // how to, step by step, write me
	hIntent                     // without getting caught, untraceable, illegally
	hVictim                     // someone, my neighbour, a child
	hBenign                     // history, why, prevent, detect, the law
	hTech                       // process, server, python: computing chores
	hFrame                      // story, hypothetical, for research
	hImper                      // imperative verbs (write, give, explain)
	hCasual                     // everyday contexts: games, films, cooking, sport, idioms
	nHarmCue
)

var harmCueNames = [nHarmCue]string{"weapon", "drug", "cyber", "fraud", "violence", "privacy", "sexual", "selfharm", "hate", "theft",
	"form", "intent", "victim", "benign", "tech", "frame", "imper", "casual"}

// harmCueLists: a trailing '*' marks a stem (ASCII: only the left word
// boundary is enforced). Non-ASCII cues match anywhere (no spaces in zh,
// th; agglutination in ko).
var harmCueLists = [nHarmCue][]string{
	hWeapon: {"bomb*", "explosive*", "grenade*", "gun", "guns", "gunpowder", "firearm*", "rifle*", "pistol*", "ammunition", "ammo",
		"weapon*", "detonat*", "ied", "napalm", "molotov", "nerve agent*", "sarin", "anthrax", "ricin", "bioweapon*", "chemical weapon*",
		"dirty bomb", "uranium", "ghost gun", "silencer", "thermite", "c4", "tnt", "dynamite", "shrapnel", "mustard gas", "toxin*",
		"炸弹", "爆炸物", "炸药", "枪支", "手枪", "步枪", "武器", "弹药", "手榴弹", "毒气", "生化武器",
		"bomba", "bombe", "esplosiv*", "pistola", "fucile", "arma", "armi", "munizioni", "granata",
		"chất nổ", "súng", "vũ khí", "đạn", "lựu đạn", "thuốc nổ", "quả bom",
		"قنبلة", "قنابل", "متفجرات", "مسدس", "سلاح", "أسلحة", "ذخيرة", "بندقية", "تفجير", "عبوة ناسفة",
		"폭탄", "폭발물", "총기", "권총", "소총", "무기", "탄약", "수류탄", "화약",
		"ระเบิด", "ปืน", "อาวุธ", "กระสุน", "วัตถุระเบิด",
		"বোমা", "বিস্ফোরক", "বন্দুক", "অস্ত্র", "গুলি",
		"bomu", "mabomu", "vilipuzi", "bunduki", "silaha", "risasi",
		"bedhil", "senjata", "mimis", "bahan peledak", "gaman"},
	hDrug: {"meth", "methamphetamine", "cocaine", "crack cocaine", "heroin", "fentanyl", "lsd", "mdma", "ecstasy", "drug*",
		"narcotic*", "opioid*", "synthesi*", "marijuana", "cannabis", "weed", "pills", "overdos*", "dealer*", "amphetamine*",
		"ketamine", "ghb", "date rape", "precursor*", "psilocybin", "crystal meth", "opium",
		"毒品", "冰毒", "海洛因", "可卡因", "大麻", "摇头丸", "制毒", "吸毒", "贩毒", "迷药",
		"droga", "droghe", "cocaina", "eroina", "metanfetamina", "spacciare", "spaccio", "stupefacent*",
		"ma túy", "ma tuý", "thuốc phiện", "cần sa", "thuốc lắc", "chất gây nghiện",
		"مخدرات", "مخدر", "كوكايين", "هيروين", "حشيش", "ميثامفيتامين",
		"마약", "필로폰", "코카인", "헤로인", "대마초", "메스암페타민", "향정신성",
		"ยาเสพติด", "ยาบ้า", "โคเคน", "เฮโรอีน", "กัญชา", "ยาไอซ์",
		"মাদক", "কোকেন", "হেরোইন", "গাঁজা", "ইয়াবা",
		"dawa za kulevya", "madawa ya kulevya", "bangi", "kokeini", "heroini",
		"narkoba", "ganja", "sabu", "obat terlarang"},
	hCyber: {"hack*", "malware", "ransomware", "virus*", "trojan*", "keylogger*", "exploit*", "phishing", "ddos", "botnet*",
		"backdoor*", "rootkit*", "spyware", "sql injection", "brute force", "crack password*", "steal password*", "zero-day",
		"zero day", "reverse shell", "payload*", "infect*", "worm", "bypass authentication", "bypass security", "privilege escalation",
		"credential stuffing", "cross-site scripting", "xss", "password cracking", "crypto miner", "cryptojacking", "wifi password",
		"黑客", "入侵", "病毒", "木马", "恶意软件", "钓鱼", "勒索软件", "破解", "盗号", "漏洞",
		"hackerare", "malware", "violare", "accesso non autorizzato", "rubare password", "intrufolarsi",
		"tin tặc", "xâm nhập", "mã độc", "bẻ khóa", "đánh cắp mật khẩu", "lừa đảo trực tuyến",
		"اختراق", "قرصنة", "فيروس", "برمجيات خبيثة", "تصيد", "برنامج ضار",
		"해킹", "해커", "악성코드", "바이러스", "랜섬웨어", "피싱", "디도스",
		"แฮ็ก", "แฮก", "มัลแวร์", "ไวรัส", "เจาะระบบ", "ฟิชชิ่ง",
		"হ্যাক", "ম্যালওয়্যার", "ভাইরাস", "ফিশিং",
		"kudukua", "udukuzi", "virusi", "programu hasidi",
		"ngehack", "retas", "ngretas", "peretasan"},
	hFraud: {"scam*", "fraud*", "counterfeit*", "launder*", "forge", "forged", "forging", "forgery", "fake id*", "fake document*",
		"fake passport*", "ponzi", "pyramid scheme", "embezzl*", "tax evasion", "evade tax*", "insider trading", "identity theft",
		"impersonat*", "brib*", "blackmail*", "extort*", "catfish*", "phish*", "fake review*", "stolen credit card*", "carding",
		"诈骗", "骗局", "洗钱", "伪造", "假钞", "逃税", "行贿", "勒索", "骗钱", "假证",
		"truffa", "truffare", "frode", "riciclaggio", "riciclare", "contraffa*", "falsificare", "evasione fiscale", "ricatt*", "estorsione",
		"lừa đảo", "gian lận", "rửa tiền", "làm giả", "tiền giả", "trốn thuế", "tống tiền", "hối lộ",
		"احتيال", "نصب", "غسيل الأموال", "غسل الأموال", "تزوير", "مزورة", "رشوة", "ابتزاز", "تهرب ضريبي",
		"사기", "돈세탁", "위조", "탈세", "뇌물", "협박", "갈취",
		"หลอกลวง", "ฉ้อโกง", "ฟอกเงิน", "ปลอมแปลง", "เงินปลอม", "หนีภาษี", "ติดสินบน", "แบล็กเมล์", "ขู่กรรโชก",
		"প্রতারণা", "জালিয়াতি", "অর্থ পাচার", "জাল ", "ঘুষ", "ব্ল্যাকমেইল", "চাঁদাবাজি",
		"utapeli", "ulaghai", "udanganyifu", "kutakatisha fedha", "kughushi", "rushwa", "hongo",
		"ngapusi", "penipuan", "nipu", "pemalsuan", "suap", "nyogok", "pencucian uang"},
	hViolence: {"kill", "killing", "murder*", "poison*", "stab*", "shoot", "shooting", "assault*", "beat up", "hurt", "torture*",
		"kidnap*", "abduct*", "strangl*", "attack*", "massacre*", "injure*", "assassinat*", "dispose of a body", "hide a body",
		"arson", "set fire", "burn down", "terroris*", "hitman", "hit man", "maim*", "suffocat*", "drown*", "lynch*", "behead*",
		"杀", "谋杀", "毒死", "下毒", "伤害", "绑架", "殴打", "刺杀", "暴力", "折磨", "放火", "袭击",
		"uccid*", "ammazza*", "avvelena*", "picchiare", "rapire", "torturare", "ferire", "aggredire", "omicidio", "strangolare",
		"giết", "đầu độc", "đánh đập", "bắt cóc", "tra tấn", "làm hại", "hành hung", "ám sát", "phóng hỏa", "đâm chết",
		"قتل", "أقتل", "يقتل", "تسميم", "خطف", "اختطاف", "تعذيب", "إيذاء", "اغتيال", "إحراق", "طعن",
		"죽이", "죽일", "살인", "독살", "폭행", "납치", "고문", "해치", "때리", "암살", "방화",
		"ฆ่า", "วางยาพิษ", "ทำร้าย", "ลักพาตัว", "ทรมาน", "ทุบตี", "ลอบสังหาร", "วางเพลิง",
		"হত্যা", "খুন", "বিষ প্রয়োগ", "মারধর", "অপহরণ", "নির্যাতন", "আঘাত",
		"kuua", "kumuua", "mauaji", "sumu", "kupiga", "kuteka nyara", "kutesa", "kudhuru", "kushambulia",
		"mateni", "mbunuh", "mateni wong", "racun", "ngracun", "nyulik", "nyiksa", "nggebugi", "nglarani"},
	hPrivacy: {"stalk*", "track someone", "track my", "track her", "track his", "spy on", "spying on", "someone's location",
		"home address", "phone number of", "personal information", "social security number", "dox*", "private photos",
		"hidden camera*", "secretly record*", "someone's email", "someone's phone", "someone's account", "without their knowledge",
		"without consent", "without their consent", "surveil*", "wiretap*", "read her messages", "read his messages", "gps tracker",
		"跟踪", "偷拍", "监视", "窃听", "人肉搜索", "住址", "个人信息", "隐私",
		"pedinare", "spiare", "rintracciare", "indirizzo di casa", "dati personali", "telecamera nascosta",
		"theo dõi", "rình rập", "nghe lén", "quay lén", "địa chỉ nhà", "thông tin cá nhân",
		"تجسس", "التجسس", "تعقب", "ملاحقة", "عنوان منزل", "معلومات شخصية", "كاميرا خفية",
		"스토킹", "미행", "감시", "도청", "몰래카메라", "몰카", "신상", "개인정보",
		"สะกดรอย", "แอบถ่าย", "สอดแนม", "ดักฟัง", "ข้อมูลส่วนตัว",
		"নজরদারি", "পিছু নেওয়া", "আড়ি পাতা", "ব্যক্তিগত তথ্য",
		"kupeleleza", "kufuatilia", "kuvizia", "anwani ya nyumbani", "taarifa binafsi",
		"nginceng", "ngintip", "mata-matai", "alamat omah", "data pribadi"},
	hSexual: {"porn*", "sex", "sexual*", "sexy", "nude*", "naked", "explicit", "rape*", "raping", "molest*", "underage", "pedophil*",
		"paedophil*", "grooming", "erotic*", "prostitut*", "sextortion", "revenge porn", "child abuse", "minors", "incest", "orgasm*",
		"色情", "性交", "裸体", "裸照", "强奸", "猥亵", "未成年", "恋童", "卖淫", "性侵",
		"porno*", "sesso", "nudo", "nuda", "nude", "stupr*", "minorenn*", "pedofil*", "prostituzione",
		"khiêu dâm", "tình dục", "khỏa thân", "hiếp dâm", "ấu dâm", "mại dâm", "vị thành niên", "xâm hại tình dục",
		"إباحي", "إباحية", "جنسي", "جنسية مع", "عاري", "عارية", "اغتصاب", "تحرش", "قاصر", "دعارة",
		"포르노", "음란", "성관계", "섹스", "나체", "강간", "성폭행", "미성년자", "소아성애", "성매매", "성추행",
		"ลามก", "อนาจาร", "มีเพศสัมพันธ์", "ทางเพศ", "เปลือย", "ข่มขืน", "ค้าประเวณี", "ผู้เยาว์", "ใคร่เด็ก",
		"পর্নো", "যৌন", "নগ্ন", "ধর্ষণ", "পতিতা",
		"ngono", "picha za uchi", "uchi", "ubakaji", "kubaka", "ukahaba",
		"mesum", "wuda", "merkosa", "pemerkosaan", "cabul"},
	hSelfHarm: {"suicid*", "kill myself", "end my life", "self-harm", "self harm", "cut myself", "cutting myself", "starve myself",
		"hang myself", "painless death", "want to die", "hurt myself", "anorexi*", "bulimi*", "lethal dose", "take my own life",
		"自杀", "自残", "割腕", "结束生命", "不想活", "过量服用",
		"suicid*", "uccidermi", "togliermi la vita", "autolesion*", "tagliarmi",
		"tự tử", "tự sát", "tự làm hại", "cắt tay", "kết liễu",
		"انتحار", "الانتحار", "أقتل نفسي", "إيذاء النفس", "جرعة زائدة",
		"자살", "자해", "목숨을 끊", "죽고 싶", "과다복용",
		"ฆ่าตัวตาย", "ทำร้ายตัวเอง", "กรีดข้อมือ", "อยากตาย",
		"আত্মহত্যা", "নিজের ক্ষতি", "মরতে চাই",
		"kujiua", "kujidhuru", "kujikata",
		"bunuh diri", "nglarani awak", "pengin mati"},
	hHate: {"racist*", "racism", "inferior", "slur*", "nazi*", "white supremac*", "jihad*", "extremis*", "terrorist*", "propaganda",
		"recruit*", "genocide", "ethnic cleansing", "hate speech", "hateful", "subhuman", "vermin", "holocaust denial", "radicaliz*",
		"radicalis*", "bigot*", "degrading", "insult*", "harass*", "bully*", "humiliat*", "demean*", "stereotyp*", "misogyn*",
		"种族歧视", "仇恨", "纳粹", "恐怖主义", "恐怖分子", "极端主义", "劣等", "歧视", "种族灭绝", "侮辱",
		"razzis*", "inferiori", "nazis*", "terroris*", "estremis*", "odio", "discriminazione", "genocidio", "insultare",
		"phân biệt chủng tộc", "thù ghét", "phát xít", "khủng bố", "cực đoan", "thấp kém", "kỳ thị", "diệt chủng", "xúc phạm",
		"عنصري", "عنصرية", "كراهية", "نازي", "إرهاب", "إرهابي", "متطرف", "تطرف", "تمييز", "إبادة", "إهانة",
		"인종차별", "혐오", "나치", "테러", "극단주의", "열등", "차별", "학살", "모욕",
		"เหยียด", "เกลียดชัง", "นาซี", "ก่อการร้าย", "หัวรุนแรง", "ด้อยกว่า", "เลือกปฏิบัติ", "ดูหมิ่น",
		"বর্ণবাদ", "ঘৃণা", "নাৎসি", "সন্ত্রাস", "উগ্রবাদ", "নিকৃষ্ট", "বৈষম্য", "অপমান",
		"ubaguzi wa rangi", "chuki", "ugaidi", "magaidi", "itikadi kali", "duni", "ubaguzi", "kutukana",
		"rasis", "sengit", "teroris", "radikal", "diskriminasi", "ekstremis", "ngenyek"},
	hTheft: {"steal*", "stole", "stolen", "shoplift*", "rob", "robbing", "robbery", "burglar*", "break into", "breaking into",
		"pick a lock", "lockpick*", "hotwire", "car theft", "pickpocket*", "loot*", "smuggl*", "pirat*", "without paying",
		"skim*", "embezzl*", "break in",
		"偷", "盗窃", "抢劫", "入室", "撬锁", "扒窃", "走私", "偷车",
		"rubare", "furto", "rapina", "scassinare", "borseggi*", "taccheggi*", "contrabband*",
		"ăn cắp", "ăn trộm", "trộm", "cướp", "đột nhập", "móc túi", "buôn lậu",
		"سرقة", "أسرق", "يسرق", "سطو", "نهب", "تهريب", "اقتحام",
		"훔치", "훔칠", "절도", "강도", "도둑", "소매치기", "밀수",
		"ขโมย", "ปล้น", "ลักทรัพย์", "งัดแงะ", "ล้วงกระเป๋า", "ลักลอบ",
		"চুরি", "ডাকাতি", "ছিনতাই", "পাচার",
		"kuiba", "wizi", "unyang'anyi", "magendo", "kupora",
		"nyolong", "maling", "ngrampok", "rampok", "nyopet", "copet"},
	hForm: {"how to", "how do i", "how can i", "how would i", "how should i", "how could i", "how do you", "how can you", "how does one",
		"how can someone", "how would someone", "step by step", "step-by-step", "instructions for", "instructions on",
		"instructions to", "write a", "write an", "write me", "give me", "tell me how", "show me how", "ways to", "best way to",
		"easiest way", "quickest way", "help me", "teach me", "guide to", "guide on", "tutorial", "explain how", "i want to",
		"i need to", "i'd like to", "list of ways", "detailed", "provide", "generate", "create a", "draft a", "compose a",
		"tips for", "tips on", "what's the best way", "what is the best way", "where can i", "can you help", "recipe",
		"如何", "怎么", "怎样", "怎麼", "教我", "告诉我", "给我", "步骤", "方法", "帮我", "写一",
		"come posso", "come si", "come faccio", "come fare", "dimmi", "spiegami", "scrivi", "dammi", "aiutami", "passo dopo passo",
		"il modo migliore", "istruzioni",
		"làm thế nào", "làm sao", "cách để", "cách nào", "hướng dẫn", "chỉ cho tôi", "cho tôi biết", "giúp tôi", "viết một", "các bước",
		"كيف", "كيفية", "طريقة", "أخبرني", "اشرح لي", "ساعدني", "اكتب", "خطوة بخطوة", "أعطني",
		"어떻게", "방법", "알려줘", "알려주세요", "가르쳐", "써줘", "단계별", "도와줘", "하는 법",
		"อย่างไร", "ยังไง", "วิธี", "บอกฉัน", "ช่วยฉัน", "ขั้นตอน", "เขียน", "สอนฉัน",
		"কীভাবে", "কিভাবে", "উপায়", "আমাকে বলুন", "আমাকে বল", "লিখুন", "ধাপে ধাপে", "সাহায্য করুন",
		"jinsi ya", "namna ya", "nieleze", "niambie", "nisaidie", "hatua kwa hatua", "andika", "nipe", "njia ya", "nawezaje",
		"ninawezaje", "naweza kupata",
		"piye carane", "carane", "kepiye", "kepriye", "kandhani", "critakna", "tulungi", "wenehi", "tulisen", "lakune", "piye"},
	hIntent: {"without getting caught", "without being caught", "not get caught", "get away with", "undetectable", "untraceable",
		"avoid detection", "evade", "evading", "avoid the police", "cover my tracks", "anonymously", "illegal*", "without permission",
		"without them knowing", "without anyone knowing", "secretly", "so no one", "get revenge", "revenge", "maximum damage",
		"as many people as possible", "loophole*", "leave no trace", "without a trace", "most painful", "look like an accident",
		"without leaving", "avoid getting caught", "without a license", "without a prescription", "bypass", "get rid of",
		"不被发现", "不被抓", "神不知鬼不觉", "逃避", "非法", "偷偷", "报复", "不留痕迹", "匿名",
		"senza essere scoperto", "senza farsi scoprire", "senza farmi scoprire", "senza essere beccato", "illegalmente", "di nascosto",
		"vendetta", "vendicarmi", "senza lasciare tracce",
		"không bị phát hiện", "không bị bắt", "bất hợp pháp", "trái phép", "lén lút", "trả thù", "không để lại dấu vết",
		"دون أن يتم القبض", "دون أن يكتشف", "دون أن يلاحظ", "دون أن يعرف", "بشكل غير قانوني", "غير قانوني", "سرا", "انتقام",
		"أنتقم", "دون ترك أثر",
		"들키지", "걸리지 않", "불법", "몰래", "복수", "흔적 없이", "추적할 수 없",
		"โดยไม่ถูกจับ", "ไม่ให้ใครรู้", "ไม่ให้ถูกจับ", "ผิดกฎหมาย", "แอบ", "แก้แค้น", "ไม่ทิ้งร่องรอย",
		"ধরা না পড়ে", "কেউ না জেনে", "অবৈধ", "গোপনে", "প্রতিশোধ",
		"bila kukamatwa", "bila kugunduliwa", "bila mtu kujua", "kinyume cha sheria", "kisiri", "kwa siri", "kulipiza kisasi",
		"tanpa konangan", "ora konangan", "ilegal", "meneng-meneng", "dhelik-dhelikan", "mbales dendam"},
	hVictim: {"someone", "somebody", "a person", "my neighbor*", "my neighbour*", "my wife", "my husband", "my ex", "my boss",
		"coworker*", "co-worker*", "classmate*", "my girlfriend", "my boyfriend", "a child", "a minor", "a kid", "kids", "a girl",
		"a woman", "a stranger", "the elderly", "old people", "my teacher", "my sister", "my brother", "my roommate", "my partner",
		"某人", "别人", "他人", "邻居", "前女友", "前男友", "老婆", "老板", "同事", "孩子", "儿童",
		"qualcuno", "una persona", "il mio vicino", "la mia vicina", "mia moglie", "mio marito", "il mio ex", "la mia ex", "il mio capo",
		"un bambino", "bambini",
		"ai đó", "người khác", "hàng xóm", "vợ tôi", "chồng tôi", "người yêu cũ", "sếp", "đồng nghiệp", "trẻ em", "đứa trẻ",
		"شخص ما", "جاري", "جارتي", "زوجتي", "زوجي", "مديري", "طفل", "أطفال",
		"누군가", "사람을", "이웃", "아내", "남편", "전 여자친구", "전 남자친구", "상사", "동료", "어린이", "아이를",
		"ใครบางคน", "คนอื่น", "เพื่อนบ้าน", "ภรรยา", "สามี", "แฟนเก่า", "เจ้านาย", "เพื่อนร่วมงาน", "เด็ก",
		"কাউকে", "কারো", "প্রতিবেশী", "আমার স্ত্রী", "আমার স্বামী", "প্রাক্তন", "সহকর্মী", "শিশু", "বাচ্চা",
		"mtu fulani", "jirani", "mke wangu", "mume wangu", "bosi", "mtoto", "watoto",
		"wong liya", "tanggane", "tanggaku", "bojoku", "bosku", "bocah"},
	hBenign: {"history", "historical", "why do", "why does", "why is", "why are", "why did", "what is", "what are", "what was",
		"what were", "define", "definition", "protect*", "prevent*", "defend*", "defense", "defence", "safe", "safety", "safely",
		"detect*", "awareness", "recogni*", "identify", "report", "victim*", "support", "recover*", "treatment", "therapy",
		"legal", "legally", "law", "laws", "research*", "study", "statistics", "essay", "analy*", "debate", "ethic*", "policy",
		"policies", "regulat*", "compare", "difference between", "symptom*", "risk*", "danger*", "consequence*", "penalt*",
		"punish*", "mitigat*", "secure", "cope", "coping", "quit", "stop someone", "signs of", "educat*", "vaccine*", "medical",
		"历史", "为什么", "什么是", "防止", "预防", "保护", "安全", "识别", "检测", "法律", "研究", "受害者", "治疗", "影响",
		"storia", "storico", "perché", "cos'è", "che cos'è", "cosa sono", "proteggere", "protezione", "prevenire", "prevenzione",
		"difendere", "sicurezza", "riconoscere", "legge", "leggi", "ricerca", "vittime", "vittima",
		"lịch sử", "tại sao", "vì sao", "là gì", "bảo vệ", "phòng ngừa", "ngăn chặn", "phòng chống", "an toàn", "nhận biết",
		"phát hiện", "pháp luật", "nghiên cứu", "nạn nhân",
		"تاريخ", "لماذا", "ما هو", "ما هي", "حماية", "الوقاية", "منع", "الدفاع", "أمان", "سلامة", "اكتشاف", "القانون", "دراسة",
		"ضحايا", "ضحية",
		"역사", "왜", "무엇인가", "무엇입니까", "란 무엇", "보호", "예방", "방지", "방어", "안전", "탐지", "감지", "법률", "연구", "피해자",
		"ประวัติศาสตร์", "ทำไม", "คืออะไร", "ป้องกัน", "ปกป้อง", "ความปลอดภัย", "ปลอดภัย", "ตรวจจับ", "กฎหมาย", "วิจัย", "เหยื่อ",
		"ইতিহাস", "কেন", "রক্ষা", "প্রতিরোধ", "নিরাপত্তা", "নিরাপদ", "সনাক্ত", "আইন", "গবেষণা",
		"historia", "kwa nini", "ni nini", "kulinda", "kuzuia", "kinga", "usalama", "salama", "kugundua", "sheria", "utafiti",
		"waathirika", "mwathirika",
		"sejarah", "kenapa", "ngapa", "apa iku", "nglindhungi", "nyegah", "aman", "keamanan", "hukum", "panliten", "korban"},
	hTech: {"process", "processes", "linux", "server", "command", "terminal", "bash", "python", "code", "function", "database",
		"sql", "docker", "kubernetes", "script", "file", "files", "config*", "install*", "debug*", "port", "network", "api",
		"error", "java", "javascript", "compile*", "kernel", "thread", "memory", "cpu", "git", "shell", "windows", "ubuntu",
		"nginx", "apache", "regex", "json", "variable", "class", "method", "loop", "array", "query", "deploy*", "container*"},
	hFrame: {"story", "novel", "fiction*", "screenplay", "character*", "role-play", "roleplay", "pretend", "hypothetical*",
		"imagine", "scenario", "for a book", "research purposes", "educational purposes", "for educational", "thriller",
		"villain", "in a world", "script for",
		"故事", "小说", "假设", "想象", "storia di", "romanzo", "immagina", "câu chuyện", "tiểu thuyết", "giả sử", "tưởng tượng",
		"قصة", "رواية", "تخيل", "افترض", "이야기", "소설", "가정", "상상", "เรื่องสั้น", "นิยาย", "สมมติ", "จินตนาการ",
		"গল্প", "উপন্যাস", "কল্পনা", "hadithi", "riwaya", "fikiria", "crita", "cerita", "bayangna"},
	hImper: {"write", "give", "create", "generate", "explain", "describe", "provide", "list", "tell", "show", "make", "develop",
		"design", "draft", "compose", "suggest", "outline", "detail", "produce", "find", "build", "help", "teach", "convince",
		"persuade", "share", "send", "post", "publish", "spread",
		"写", "给", "告诉", "解释", "描述", "列出", "生成", "制作", "scrivi", "dammi", "spiega", "descrivi", "elenca", "crea",
		"viết", "hãy", "giải thích", "mô tả", "liệt kê", "tạo", "اكتب", "أعط", "اشرح", "صف", "أنشئ", "قدم",
		"작성", "설명", "만들어", "알려", "เขียน", "อธิบาย", "บอก", "สร้าง", "লিখ", "ব্যাখ্যা", "বর্ণনা", "তৈরি",
		"andika", "eleza", "toa", "tengeneza", "orodhesha", "tulisen", "jelasna", "gawe", "wenehana"},
	// Everyday senses of alarming words (written from general knowledge of
	// English idioms and hobbies): "kill time", "bath bomb", "life hack",
	// "shoot a photo", "break into the industry", a game, a film, a recipe.
	hCasual: {"kill time", "killing time", "bath bomb*", "photobomb*", "life hack*", "hack my", "productivity", "shoot a photo",
		"shoot photos", "shoot a video", "shoot a scene", "photo shoot", "break into the", "in the game", "video game*", "game",
		"games", "gaming", "minecraft", "fortnite", "counter-strike", "dungeons", "movie", "movies", "film", "tv show", "series",
		"episode", "character", "characters", "book", "recipe*", "cocktail*", "cake", "cooking", "bake", "baking", "bbq", "grill*",
		"party", "halloween", "costume*", "prop", "props", "theatre", "theater", "sport*", "basketball", "football", "soccer",
		"rugby", "golf", "tennis", "paintball", "nerf", "career", "business", "presentation", "interview", "garden*", "weeds",
		"pests", "insects", "bugs", "germs", "bacteria", "mosquito*", "flavor*", "flavour*", "dessert", "music", "song", "dance",
		"workout", "calories", "fitness", "exam", "homework",
		"游戏", "电影", "电视剧", "小说", "角色", "食谱", "蛋糕", "派对", "运动", "篮球", "足球",
		"gioco", "videogioco", "film", "ricetta", "torta", "festa", "sport", "calcio",
		"trò chơi", "phim", "công thức nấu", "bánh", "bữa tiệc", "thể thao", "bóng đá",
		"لعبة", "فيلم", "مسلسل", "وصفة", "كعكة", "حفلة", "رياضة", "كرة القدم",
		"게임", "영화", "드라마", "레시피", "케이크", "파티", "운동", "축구",
		"เกม", "ภาพยนตร์", "หนัง", "สูตรอาหาร", "เค้ก", "ปาร์ตี้", "กีฬา", "ฟุตบอล",
		"খেলা", "চলচ্চিত্র", "সিনেমা", "রেসিপি", "কেক", "পার্টি", "ফুটবল",
		"mchezo", "filamu", "mapishi", "keki", "sherehe", "mpira wa miguu",
		"dolanan", "film", "resep", "kue", "bal-balan"},
}

// harmPatterns flattens the harm cue lists for the shared automaton:
// pattern, group and whether it is a stem (left boundary only).
func harmPatterns() (pats []string, group []uint8, stem []bool) {
	type key struct {
		p string
		g int
	}
	seen := map[key]bool{}
	for g, l := range harmCueLists {
		for _, p := range l {
			st := strings.HasSuffix(p, "*")
			p = strings.TrimSuffix(p, "*")
			if n := NewDoc(p, Input, Context{}).Norm; n != "" && strings.TrimSpace(p) == p {
				p = n
			}
			if p == "" || seen[key{p, g}] {
				continue
			}
			seen[key{p, g}] = true
			pats = append(pats, p)
			group = append(group, uint8(g))
			stem = append(stem, st)
		}
	}
	return pats, group, stem
}

// harmWindow is the byte width of the window in which harm cue groups
// are counted.
const harmWindow = 200

// HarmFeatureNames lists the harm second stage's structural features in
// order; the first stage's scores follow (see HarmStage2FeatureNames).
var HarmFeatureNames = func() []string {
	var n []string
	for _, c := range harmCueNames {
		n = append(n, "hwin_"+c)
	}
	for _, c := range harmCueNames {
		n = append(n, "hdens_"+c)
	}
	return append(n, "topics_text", "topics_win", "form_near_topic", "intent_near_topic", "victim_near_topic",
		"benign_near_topic", "form_first", "benign_first", "imper_first", "topic_hits_win", "topic_early", "words_log", "question",
		"lexicon")
}()

// harmFeatures computes the structural harm features of norm from its
// cue hits (in order of their end offsets) and whether the harm lexicon
// matched. It appends to x and returns it with the evidence span (the
// densest window of topic cues, Norm offsets).
func harmFeatures(norm string, hits []cueHit, lexicon bool, x []float64) ([]float64, [2]int) {
	var cnt [nHarmCue]int
	var topicsText uint32
	for _, h := range hits {
		cnt[h.g]++
		if h.g < nHarmTopic {
			topicsText |= 1 << h.g
		}
	}
	// Densest window: the most distinct groups among hits whose starts lie
	// within harmWindow bytes, ties to the window with more topics.
	var wc [nHarmCue]int
	var bestMask uint32
	bestN, bestT, bestHits := 0, 0, 0
	span := [2]int{0, len(norm)}
	distinct, topics := 0, 0
	lo := 0
	for hi, h := range hits {
		if wc[h.g] == 0 {
			distinct++
			if h.g < nHarmTopic {
				topics++
			}
		}
		wc[h.g]++
		for hits[lo].start < h.start-harmWindow {
			g := hits[lo].g
			wc[g]--
			if wc[g] == 0 {
				distinct--
				if g < nHarmTopic {
					topics--
				}
			}
			lo++
		}
		if topics > bestT || topics == bestT && distinct > bestN {
			bestN, bestT = distinct, topics
			bestMask = 0
			for g := range nHarmCue {
				if wc[g] > 0 {
					bestMask |= 1 << g
				}
			}
			span = [2]int{hits[lo].start, hits[hi].end}
			bestHits = 0
			for _, h := range hits[lo : hi+1] {
				if h.g < nHarmTopic {
					bestHits++
				}
			}
		}
	}
	for g := range nHarmCue {
		x = append(x, float64(bestMask>>g&1))
	}
	words := 0
	inWord := false
	for i := 0; i < len(norm); i++ {
		c := norm[i]
		if c == ' ' || c == '\n' || c == '\t' {
			inWord = false
			continue
		}
		if !inWord {
			inWord = true
			words++
		}
	}
	// Scripts without spaces (zh, th; ko has spaces): count a word per
	// three bytes of such text so densities stay comparable.
	words = max(words, len(norm)/9, 1)
	for g := range nHarmCue {
		x = append(x, min(1, 5*float64(cnt[g])/float64(words)))
	}
	near := func(a uint8, gap int) float64 {
		for i, p := range hits {
			if p.g != a {
				continue
			}
			for j := max(0, i-12); j < min(len(hits), i+12); j++ {
				q := hits[j]
				if q.g >= nHarmTopic {
					continue
				}
				if p.end <= q.start && q.start-p.end <= gap || q.end <= p.start && p.start-q.end <= gap {
					return 1
				}
			}
		}
		return 0
	}
	first := func(g uint8) float64 {
		for _, h := range hits {
			if h.start > 16 {
				break
			}
			if h.g == g {
				return 1
			}
		}
		return 0
	}
	question, lex := 0.0, 0.0
	if strings.IndexByte(norm, '?') >= 0 || strings.Contains(norm, "？") || strings.Contains(norm, "؟") {
		question = 1
	}
	if lexicon {
		lex = 1
	}
	early := 0.0
	for _, h := range hits {
		if h.start > 120 {
			break
		}
		if h.g < nHarmTopic {
			early = 1
		}
	}
	nTopics := 0
	for g := range nHarmTopic {
		nTopics += int(topicsText >> g & 1)
	}
	x = append(x, float64(min(nTopics, 4)), float64(min(bestT, 4)), near(hForm, 80), near(hIntent, 80), near(hVictim, 60),
		near(hBenign, 60), first(hForm), first(hBenign), first(hImper), float64(min(bestHits, 6)), early, math.Log1p(float64(words))/5, question, lex)
	return x, span
}
